using System.Runtime.InteropServices;
using TrtNative.Compiler;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;
using TrtNative.Tests.Models;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Compiler;

/// <summary>
/// <see cref="FuseLayerNormIntoGemm"/>: in fp16 and bf16 a LayerNorm read only by a Linear becomes the GEMM's norm_a
/// (the GEMM reads the LayerNorm's input); in fp32, with a second reader of the normalised tensor or with a norm over
/// more than the GEMM's K it stays a separate layer.
/// </summary>
public class FuseLayerNormIntoGemmTests(ITestOutputHelper output)
{
    /// <summary>LayerNorm over the last <paramref name="normDims"/> dims of x [batch, 4, 16], then MatMul + bias.</summary>
    private static Graph NormLinear(bool shift = true, int normDims = 1, bool normalizedReadTwice = false, bool residual = false)
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(4), Dim.Of(16)]);
        long[] normalized = normDims == 1 ? [16] : [4, 16];
        string[] lnInputs = shift ? [x, b.Init("scale", normalized, 0.5f, 1.5f), b.Init("shift", normalized)] : [x, b.Init("scale", normalized, 0.5f, 1.5f)];
        var ln = b.Op("LayerNormalization", lnInputs, n => n.Set("axis", (long)-normDims).Set("epsilon", 1e-5f), name: "ln");
        long width = residual ? 16 : 24;
        var y = b.Op("Add", b.Op("MatMul", ln, b.Init("w", [16, width])), b.Init("bias", [width]));
        if (residual) y = b.Op("Add", x, y);
        return normalizedReadTwice ? b.Build(y, b.Op("Sigmoid", ln)) : b.Build(y);
    }

    private static GemmParams Params(ProgramLayer l) => MemoryMarshal.Read<GemmParams>(l.Params);

    private static int NormGemms(LayerProgram p) => p.Layers.Count(l => l.Kind == LayerKind.Gemm && Params(l).NormA != 0);

    private LayerProgram LowerAndRun(Graph g, bool fp16, double tolerance)
    {
        var r = InterpretedLowering.Run(g, fp16, ("x", [3, 4, 16]));
        output.WriteLine($"fp16={fp16}: layers {string.Join(", ", r.Program.Layers.Select(l => $"{l.Kind} '{l.Name}'"))}; rel L2 {r.Error:E3} (seed {r.Seed})");
        Assert.True(r.Error <= tolerance, $"rel L2 {r.Error:E3} > {tolerance:E0} (seed {r.Seed})");
        return r.Program;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Fp16LayerNormBecomesTheGemmsNormA(bool shift)
    {
        var program = LowerAndRun(NormLinear(shift), fp16: true, 1e-2);
        var gemm = Assert.Single(program.Layers, l => l.Kind == LayerKind.Gemm);
        Assert.DoesNotContain(program.Layers, l => l.Kind == LayerKind.LayerNorm);
        var prm = Params(gemm);
        Assert.Equal(1, prm.NormA);
        Assert.Equal(1e-5f, prm.NormEpsilon);
        Assert.StartsWith("ln+", gemm.Name);
        Assert.Equal(6, gemm.Inputs.Length);
        Assert.Equal(NativeDType.Float32, program.Tensors[gemm.Inputs[4]].DType);
        Assert.Equal(shift, gemm.Inputs[5] >= 0);
        // A is the LayerNorm's input (the engine input converted to fp16), no longer a tensor the LayerNorm wrote.
        var a = program.Tensors[program.Root(gemm.Inputs[0])];
        Assert.Equal(NativeDType.Float16, a.DType);
        Assert.Equal(LayerKind.Copy, program.Layers[program.Producer(a.Id)].Kind);
    }

    [Fact]
    public void Bf16LayerNormBecomesTheGemmsNormAToo()
    {
        var g = NormLinear();
        var program = GpuLowering.Lower(Optimizer.Optimize(g), new LoweringOptions { Activation = NativeDType.BFloat16 });
        Assert.Equal(1, NormGemms(program));
        Assert.DoesNotContain(program.Layers, l => l.Kind == LayerKind.LayerNorm);
        int seed = RandomTensors.FreshSeed();
        var inputs = new Dictionary<string, Tensor> { ["x"] = RandomTensors.Normal([3, 4, 16], seed) };
        double err = RelativeL2.Of(new ProgramInterpreter(program).Run(inputs)[g.Outputs[0].Name], TrtNative.Reference.ReferenceExecutor.Run(g, inputs)[g.Outputs[0].Name]);
        Assert.True(err <= 2e-2, $"rel L2 {err:E3} (seed {seed})");
    }

    /// <summary>The residual pass runs first: the GEMM then has both, the residual at 3 and the norm's scale and shift at 4 and 5.</summary>
    [Fact]
    public void NormAndResidualRideOnOneGemm()
    {
        var program = LowerAndRun(NormLinear(residual: true), fp16: true, 1e-2);
        var gemm = Assert.Single(program.Layers, l => l.Kind == LayerKind.Gemm);
        Assert.Equal(1, Params(gemm).NormA);
        Assert.Equal(6, gemm.Inputs.Length);
        Assert.True(gemm.Inputs[3] >= 0 && gemm.Inputs[4] >= 0 && gemm.Inputs[5] >= 0, $"inputs [{string.Join(", ", gemm.Inputs)}]");
        Assert.DoesNotContain(program.Layers, l => l.Kind is LayerKind.LayerNorm or LayerKind.Binary);

        // The plan payload keeps all six inputs.
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) program.Write(w);
        ms.Position = 0;
        var back = LayerProgram.Read(new BinaryReader(ms));
        Assert.Equal(gemm.Inputs, Assert.Single(back.Layers, l => l.Kind == LayerKind.Gemm).Inputs);
    }

    [Fact]
    public void Fp32KeepsTheLayerNorm()
    {
        var program = LowerAndRun(NormLinear(), fp16: false, 1e-5);
        Assert.Equal(0, NormGemms(program));
        Assert.Single(program.Layers, l => l.Kind == LayerKind.LayerNorm);
    }

    [Fact]
    public void NormalizedReadTwiceKeepsTheLayerNorm()
    {
        var program = LowerAndRun(NormLinear(normalizedReadTwice: true), fp16: true, 1e-2);
        Assert.Equal(0, NormGemms(program));
        Assert.Single(program.Layers, l => l.Kind == LayerKind.LayerNorm);
    }

    [Fact]
    public void NormOverMoreThanKKeepsTheLayerNorm()
    {
        var program = LowerAndRun(NormLinear(normDims: 2), fp16: true, 1e-2);
        Assert.Equal(0, NormGemms(program));
        Assert.Single(program.Layers, l => l.Kind == LayerKind.LayerNorm);
    }

    /// <summary>
    /// Only GEMMs the shim's normalising kernel runs take the LayerNorm (it needs no workspace; cuBLASLt's tactics would
    /// need a normalised copy of A there): a weight given at run time (stored [K, N]) or an output width that is not a
    /// multiple of 8 keeps it a layer.
    /// </summary>
    [Theory]
    [InlineData(true, 24)]
    [InlineData(false, 20)]
    public void GemmsOurKernelCannotRunKeepTheLayerNorm(bool runtimeWeight, long width)
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(4), Dim.Of(16)]);
        var ln = b.Op("LayerNormalization", [x, b.Init("scale", [16], 0.5f, 1.5f), b.Init("shift", [16])], n => n.Set("axis", -1L).Set("epsilon", 1e-5f));
        string w = runtimeWeight ? b.Input("w", [Dim.Of(16), Dim.Of(width)]) : b.Init("w", [16, width]);
        var g = b.Build(b.Op("MatMul", ln, w));
        var program = GpuLowering.Lower(g, fp16: true);
        output.WriteLine($"layers {string.Join(", ", program.Layers.Select(l => $"{l.Kind} '{l.Name}'"))}");
        Assert.Equal(0, NormGemms(program));
        Assert.Single(program.Layers, l => l.Kind == LayerKind.LayerNorm);
    }

    /// <summary>
    /// ViT-B/16: ln_1 before each encoder layer's in-projection and ln_2 before its MLP (2 × 12); the final norm feeds
    /// the class token's pick, not a GEMM. ConvNeXt-T: each block's channels-last norm before its first Linear (18) and
    /// the head's norm, read through the flatten by the classifier's Linear (1); the stem's and the three downsampling
    /// norms feed convolutions and stay.
    /// </summary>
    [Theory]
    [InlineData("vit_b_16", 24)]
    [InlineData("convnext_tiny", 19)]
    public void TransformerPreNormsRideOnTheirGemms(string model, int norms)
    {
        var graph = Optimizer.Optimize(OnnxImporter.Load(TorchvisionExports.Get(model)));
        var fp16 = GpuLowering.Lower(graph, fp16: true);
        var fp32 = GpuLowering.Lower(graph, fp16: false);
        int Separate(LayerProgram p) => p.Layers.Count(l => l.Kind == LayerKind.LayerNorm);
        output.WriteLine($"{model}: fp16 {NormGemms(fp16)} GEMMs with norm_a, {Separate(fp16)} LayerNorm layers ({string.Join(", ", fp16.Layers.Where(l => l.Kind == LayerKind.LayerNorm).Select(l => l.Name))}); " +
                         $"fp32 {NormGemms(fp32)}, {Separate(fp32)}");
        Assert.Equal(norms, NormGemms(fp16));
        Assert.Equal(0, NormGemms(fp32));
        Assert.Equal(Separate(fp32) - norms, Separate(fp16));
    }

    /// <summary>
    /// ConvNeXt-T's fp16 program with its 19 norms folded still computes the model (ONNX Runtime, fp16's budget). Its
    /// norms read channels-last views of the depthwise convolutions' output and, in the head, a flattened one. (ViT-B/16's
    /// check takes about three minutes in the interpreter on two cores; ModelGpuTests runs it in fp16 and bf16 on a GPU.)
    /// </summary>
    [Fact]
    public void ConvNextTinyWithFoldedNormsMatchesOnnxRuntimeInFp16()
    {
        string path = TorchvisionExports.Get("convnext_tiny");
        var graph = Optimizer.Optimize(OnnxImporter.Load(path));
        var program = GpuLowering.Lower(graph, fp16: true);
        Assert.Equal(19, NormGemms(program));
        int seed = RandomTensors.FreshSeed();
        var inputs = new Dictionary<string, Tensor> { [graph.Inputs[0].Name] = RandomTensors.Normal([1, 3, 224, 224], seed) };
        var want = OrtRunner.Run(path, inputs);
        var got = new ProgramInterpreter(program).Run(inputs);
        foreach (var (name, w) in want)
        {
            double err = RelativeL2.Of(got[name], w);
            output.WriteLine($"{name}: rel L2 {err:E3} (seed {seed})");
            Assert.True(err <= 1e-2, $"convnext_tiny fp16 output '{name}': rel L2 {err:E3} (seed {seed})");
        }
    }
}
