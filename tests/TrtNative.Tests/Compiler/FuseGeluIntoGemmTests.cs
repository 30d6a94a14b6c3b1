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
/// <see cref="FuseGeluIntoGemm"/>: in fp16 an exact GELU after a Linear becomes the GEMM's tanh-GELU epilogue; in
/// fp32, after an activated GEMM or with a second reader of the product it stays a separate layer.
/// </summary>
public class FuseGeluIntoGemmTests(ITestOutputHelper output)
{
    /// <summary>MatMul + bias, then torch's erf GELU chain, optionally also read by a second output.</summary>
    private static Graph LinearGelu(bool productReadTwice = false)
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(7), Dim.Of(16)]);
        var y = b.Op("Add", b.Op("MatMul", x, b.Init("w", [16, 24])), b.Init("bias", [24]));
        var erf = b.Op("Erf", b.Op("Div", y, b.Scalar("sqrt2", MathF.Sqrt(2))));
        var gelu = b.Op("Mul", b.Op("Mul", y, b.Op("Add", erf, b.Scalar("one", 1f))), b.Scalar("half", 0.5f));
        return productReadTwice ? b.Build(gelu, b.Op("Sigmoid", y)) : b.Build(gelu);
    }

    private static int Act(ProgramLayer l) => MemoryMarshal.Read<GemmParams>(l.Params).Act.Kind;

    private (LayerProgram Program, double Error) LowerAndRun(Graph g, bool fp16)
    {
        // Wide inputs so the product covers the GELU's curved region (|x| up to ~6), where the two forms differ most.
        var r = InterpretedLowering.Run(g, fp16, ("x", [3, 7, 16]));
        output.WriteLine($"fp16={fp16}: layers {string.Join(", ", r.Program.Layers.Select(l => l.Kind))}; rel L2 {r.Error:E3} (seed {r.Seed})");
        return (r.Program, r.Error);
    }

    [Fact]
    public void Fp16GeluBecomesTheGemmsTanhEpilogue()
    {
        var (program, err) = LowerAndRun(LinearGelu(), fp16: true);
        var gemm = Assert.Single(program.Layers, l => l.Kind == LayerKind.Gemm);
        Assert.Equal((int)UnaryOp.GeluTanh, Act(gemm));
        Assert.DoesNotContain(program.Layers, l => l.Kind == LayerKind.Unary);
        Assert.True(err <= 1e-2, $"rel L2 {err:E3}");
    }

    [Fact]
    public void Bf16GeluBecomesTheGemmsTanhEpilogueToo()
    {
        var g = LinearGelu();
        var program = GpuLowering.Lower(Optimizer.Optimize(g), new LoweringOptions { Activation = NativeDType.BFloat16 });
        var gemm = Assert.Single(program.Layers, l => l.Kind == LayerKind.Gemm);
        Assert.Equal(NativeDType.BFloat16, program.Tensors[gemm.Outputs[0]].DType);
        Assert.Equal((int)UnaryOp.GeluTanh, Act(gemm));
        Assert.DoesNotContain(program.Layers, l => l.Kind == LayerKind.Unary);
        int seed = RandomTensors.FreshSeed();
        var inputs = new Dictionary<string, Tensor> { ["x"] = RandomTensors.Normal([3, 7, 16], seed) };
        double err = RelativeL2.Of(new ProgramInterpreter(program).Run(inputs)[g.Outputs[0].Name], TrtNative.Reference.ReferenceExecutor.Run(g, inputs)[g.Outputs[0].Name]);
        Assert.True(err <= 2e-2, $"rel L2 {err:E3} (seed {seed})");
    }

    [Fact]
    public void Fp32KeepsTheExactGelu()
    {
        var (program, err) = LowerAndRun(LinearGelu(), fp16: false);
        Assert.Equal(0, Act(Assert.Single(program.Layers, l => l.Kind == LayerKind.Gemm)));
        var unary = Assert.Single(program.Layers, l => l.Kind == LayerKind.Unary);
        Assert.Equal((int)UnaryOp.Gelu, MemoryMarshal.Read<UnaryParams>(unary.Params).Op);
        Assert.True(err <= 1e-5, $"rel L2 {err:E3}");
    }

    [Fact]
    public void ProductReadTwiceKeepsTheGeluLayer()
    {
        var (program, err) = LowerAndRun(LinearGelu(productReadTwice: true), fp16: true);
        Assert.Equal(0, Act(Assert.Single(program.Layers, l => l.Kind == LayerKind.Gemm)));
        Assert.Contains(program.Layers, l => l.Kind == LayerKind.Unary && MemoryMarshal.Read<UnaryParams>(l.Params).Op == (int)UnaryOp.Gelu);
        Assert.True(err <= 1e-2, $"rel L2 {err:E3}");
    }

    /// <summary>
    /// The tanh form's largest difference from the exact GELU is 4.8e-4 (near x = 2.7), and wherever |GELU(x)| ≥ 0.25
    /// it is under half an fp16 unit in the last place: below the rounding an fp16 result gets anyway. For negative x
    /// both are tiny (|GELU| &lt; 0.17) and differ by less than 4.8e-4 in absolute terms.
    /// </summary>
    [Fact]
    public void TanhFormStaysUnderFp16Rounding()
    {
        double worstAbs = 0, worstUlps = 0;
        for (int i = -80000; i <= 80000; i++)
        {
            double x = i * 1e-4;
            double exact = 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));
            double tanh = 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
            worstAbs = Math.Max(worstAbs, Math.Abs(exact - tanh));
            if (Math.Abs(exact) >= 0.25)
            {
                double halfUlp = Math.Pow(2, Math.Floor(Math.Log2(Math.Abs(exact))) - 11);  // fp16: 10 stored mantissa bits
                worstUlps = Math.Max(worstUlps, Math.Abs(exact - tanh) / halfUlp);
            }
        }
        output.WriteLine($"largest |exact - tanh| {worstAbs:E3}; where |GELU| >= 0.25, {worstUlps:F3} of half an fp16 ulp");
        Assert.True(worstAbs < 4.8e-4, $"largest difference {worstAbs:E3}");
        Assert.True(worstUlps < 1.0, $"the tanh form is {worstUlps:F3} half-ulps away");
    }

    /// <summary>erf by its Taylor series in decimal (28 digits survive the cancellation up to |x| = 6).</summary>
    private static double Erf(double x)
    {
        if (Math.Abs(x) >= 6) return Math.Sign(x);
        decimal dx = (decimal)x, x2 = dx * dx, term = dx, sum = 0;
        for (int n = 0; n < 400 && term != 0; n++)
        {
            sum += term / (2 * n + 1);
            term = -term * x2 / (n + 1);
        }
        return (double)(sum * 2) / Math.Sqrt(Math.PI);
    }

    [Theory]
    [InlineData("vit_b_16", 12)]
    [InlineData("convnext_tiny", 18)]
    public void TransformerMlpGelusRideOnTheirGemms(string model, int mlps)
    {
        var graph = Optimizer.Optimize(OnnxImporter.Load(TorchvisionExports.Get(model)));
        var fp16 = GpuLowering.Lower(graph, fp16: true);
        var fp32 = GpuLowering.Lower(graph, fp16: false);
        int Fused(LayerProgram p) => p.Layers.Count(l => l.Kind == LayerKind.Gemm && Act(l) == (int)UnaryOp.GeluTanh);
        int Separate(LayerProgram p) => p.Layers.Count(l => l.Kind == LayerKind.Unary);
        output.WriteLine($"{model}: fp16 {Fused(fp16)} GEMMs with tanh-GELU, {Separate(fp16)} unary layers; fp32 {Fused(fp32)}, {Separate(fp32)}");
        Assert.Equal(mlps, Fused(fp16));
        Assert.Equal(0, Separate(fp16));
        Assert.Equal(0, Fused(fp32));
        Assert.Equal(mlps, Separate(fp32));
    }
}
