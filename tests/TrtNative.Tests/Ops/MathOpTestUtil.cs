using TrtNative.Ir;
using TrtNative.Ops;
using Xunit;

namespace TrtNative.Tests.Ops;

/// <summary>Runs single nodes through the registry: shape function and reference kernel, checking they agree.</summary>
internal static class MathOpTestUtil
{
    public static Tensor F(float[] data, params long[] shape) => Tensor.FromFloats(data, shape);
    public static Tensor I(long[] data, params long[] shape) => Tensor.FromInts(data, shape);
    public static Tensor B(bool[] data, params long[] shape) => Tensor.FromInts(data.Select(b => b ? 1L : 0L).ToArray(), shape, DataType.Bool);

    public static Node Node(string op, int inputs, int outputs = 1, string domain = "")
        => new(op, Enumerable.Range(0, inputs).Select(i => $"in{i}"), Enumerable.Range(0, outputs).Select(i => $"out{i}"), "n0", domain);

    /// <summary>Infers shapes (inputs given as constants when <paramref name="constant"/> says so), runs the kernel, checks agreement.</summary>
    public static Tensor[] Run(Node node, int opset, Tensor?[] inputs, Func<int, bool>? constant = null)
    {
        constant ??= _ => true;
        var def = OpRegistry.Default.Get(node, opset);
        var infos = inputs.Select((t, i) => t is null ? null : new ValueInfo(node.Input(i), t.Type, t.Shape.Select(Dim.Of).ToArray())).ToArray();
        var consts = inputs.Select((t, i) => t is not null && constant(i) ? t : null).ToArray();
        var ictx = new InferenceContext(node, opset, infos, consts);
        def.Infer(ictx);
        var kctx = new KernelContext(node, opset, inputs);
        def.Execute(kctx);
        var outs = new Tensor[node.Outputs.Count];
        for (int k = 0; k < outs.Length; k++)
        {
            if (node.Outputs[k].Length == 0) continue;
            var t = kctx.Outputs[k] ?? throw new Xunit.Sdk.XunitException($"kernel produced no output {k}");
            var info = ictx.Outputs[k] ?? throw new Xunit.Sdk.XunitException($"shape function produced no output {k}");
            Assert.Equal(info.Type, t.Type);
            Assert.Equal(info.Shape!.Select(d => d.Value), t.Shape);
            outs[k] = t;
        }
        return outs;
    }

    /// <summary>Shape inference only, with symbolic shapes.</summary>
    public static ValueInfo[] Infer(Node node, int opset, (DataType Type, Dim[] Shape)?[] inputs, Tensor?[]? constants = null)
    {
        var def = OpRegistry.Default.Get(node, opset);
        var infos = inputs.Select((t, i) => t is { } v ? new ValueInfo(node.Input(i), v.Type, v.Shape) : null).ToArray();
        var ictx = new InferenceContext(node, opset, infos, constants ?? new Tensor?[inputs.Length]);
        def.Infer(ictx);
        return ictx.Outputs.Select(o => o!).ToArray();
    }

    public static void Close(float[] expected, float[] actual, float tol = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(MathF.Abs(expected[i] - actual[i]) <= tol * (1 + MathF.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    /// <summary>Relative L2 error ||a-b|| / ||a||.</summary>
    public static double RelL2(float[] expected, float[] actual)
    {
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++) { double d = expected[i] - actual[i]; num += d * d; den += (double)expected[i] * expected[i]; }
        return Math.Sqrt(num / Math.Max(den, 1e-30));
    }

    public static float[] Random(Random rng, long n, float scale = 1f) => Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
}
