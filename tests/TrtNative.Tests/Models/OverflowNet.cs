using TrtNative.Ir;

namespace TrtNative.Tests.Models;

/// <summary>
/// A small CNN built to overflow fp16 in its middle and nowhere else (shared by the CPU tests and, linked, the GPU
/// tests): input[batch,3,16,16] → conv1 3x3 + ReLU → <see cref="BigConv"/> 3x3 with weights up to ±3e4 (they fit
/// fp16; its outputs, typically ~5e4 and up to a few 1e5, do not: fp16's largest finite value is 65504) →
/// <see cref="ScaleDown"/> × 1e-4 (back to ~1) → ReLU → global average pool → flatten → Gemm to 10 logits.
/// In fp32 every value is finite; in fp16 the big convolution gives ±inf and the logits NaN. Keeping the big
/// convolution and the scale-down in fp32 (the scale-down must read the large values in fp32) fixes it.
/// </summary>
internal static class OverflowNet
{
    /// <summary>The convolution whose outputs overflow fp16.</summary>
    public const string BigConv = "conv_big";

    /// <summary>The Mul that brings the range back; it reads the big values, so it must read them in fp32.</summary>
    public const string ScaleDown = "scale_down";

    /// <summary>The model's input and output names.</summary>
    public const string Input = "input", Output = "logits";

    /// <summary>Builds the graph with weights drawn from <paramref name="seed"/>; the batch dim is symbolic ("batch").</summary>
    public static Graph Build(int seed)
    {
        var r = new Random(seed);
        float[] U(long n, float scale)
        {
            var a = new float[n];
            for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * scale;
            return a;
        }
        var g = new Graph { Name = "overflow" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo(Input, DataType.Float, [Dim.Sym("batch"), Dim.Of(3), Dim.Of(16), Dim.Of(16)]));
        g.Initializers["w1"] = Tensor.FromFloats(U(8 * 3 * 3 * 3, 0.5f), [8, 3, 3, 3]);
        g.Initializers["b1"] = Tensor.FromFloats(U(8, 0.1f), [8]);
        g.Initializers["w_big"] = Tensor.FromFloats(U(8 * 8 * 3 * 3, 3e4f), [8, 8, 3, 3]);
        g.Initializers["scale"] = Tensor.Scalar(1e-4f);
        g.Initializers["wf"] = Tensor.FromFloats(U(10 * 8, 1f), [10, 8]);
        g.Initializers["bf"] = Tensor.FromFloats(U(10, 0.1f), [10]);
        long[] k3 = [3, 3], pad1 = [1, 1, 1, 1];
        g.Nodes.Add(new Node("Conv", [Input, "w1", "b1"], ["c1"], "conv1").Set("pads", pad1).Set("kernel_shape", k3));
        g.Nodes.Add(new Node("Relu", ["c1"], ["r1"], "relu1"));
        g.Nodes.Add(new Node("Conv", ["r1", "w_big"], ["c2"], BigConv).Set("pads", pad1).Set("kernel_shape", k3));
        g.Nodes.Add(new Node("Mul", ["c2", "scale"], ["s2"], ScaleDown));
        g.Nodes.Add(new Node("Relu", ["s2"], ["r2"], "relu2"));
        g.Nodes.Add(new Node("GlobalAveragePool", ["r2"], ["gap"], "gap"));
        g.Nodes.Add(new Node("Flatten", ["gap"], ["flat"], "flatten"));
        g.Nodes.Add(new Node("Gemm", ["flat", "wf", "bf"], [Output], "fc").Set("transB", 1L));
        g.Outputs.Add(new ValueInfo(Output, DataType.Float, null));
        return g;
    }
}
