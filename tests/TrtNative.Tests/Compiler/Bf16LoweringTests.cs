using TrtNative.Compiler;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;
using TrtNative.Reference;
using TrtNative.Runtime;
using TrtNative.Tests.Models;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Compiler;

/// <summary>
/// bf16 programs checked on the CPU: weights converted with round-to-nearest-even, every bf16 tensor rounded by
/// <see cref="ProgramInterpreter"/> as the GPU writes it, compared with ONNX Runtime at bf16's budget (rel L2 ≤ 2e-2).
/// </summary>
public class Bf16LoweringTests(ITestOutputHelper output)
{
    private static LayerProgram Lower(Graph optimized) => GpuLowering.Lower(optimized, new LoweringOptions { Activation = NativeDType.BFloat16 });

    [Fact]
    public void RoundsToNearestEvenOverflowsToInfinityAndKeepsNaN()
    {
        Assert.Equal(0x3F80, BFloat16.FromFloat(1f));
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1); just above goes up.
        Assert.Equal(0x3F80, BFloat16.FromFloat(1f + MathF.Pow(2, -8)));
        Assert.Equal(0x3F81, BFloat16.FromFloat(1f + MathF.Pow(2, -8) + MathF.Pow(2, -20)));
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up to the even one.
        Assert.Equal(0x3F82, BFloat16.FromFloat(1f + 3 * MathF.Pow(2, -8)));
        Assert.Equal(-2.5f, BFloat16.Round(-2.5f));
        Assert.Equal(float.PositiveInfinity, BFloat16.Round(float.MaxValue));
        Assert.True(float.IsNaN(BFloat16.Round(float.NaN)));
        Assert.Equal(1e5f, BFloat16.Round(1e5f), 1e5f * 4e-3f); // fp32's range: no overflow where fp16 has it
    }

    [Fact]
    public void OverflowNetIsFiniteInBf16WithoutKeepingAnyNode()
    {
        int seed = RandomTensors.FreshSeed();
        var g = OverflowNet.Build(seed);
        var inputs = new Dictionary<string, Tensor> { [OverflowNet.Input] = RandomTensors.Normal([4, 3, 16, 16], seed) };
        var want = OrtRunner.Run(OnnxExporter.ToBytes(g), inputs)[OverflowNet.Output];
        var program = Lower(Optimizer.Optimize(g));
        Assert.Equal(NativeDType.BFloat16, program.ActivationType);
        Assert.Contains(program.Tensors, t => t.Role == TensorRole.Weight && t.DType == NativeDType.BFloat16);
        var got = new ProgramInterpreter(program).Run(inputs)[OverflowNet.Output];
        Assert.All(got.Floats!, v => Assert.True(float.IsFinite(v)));
        double err = RelativeL2.AssertWithin(got, want, 2e-2, $"bf16 overflow net (seed {seed})");
        output.WriteLine($"bf16 overflow net: rel L2 {err:E3}");
        Assert.Contains("program (bf16)", program.Dump());
    }

    /// <summary>
    /// The GPU test's check on the seed whose 64 inputs gave top-1 61/64 on an H100 (rel L2 3.05e-3, session 22): the
    /// interpreter rounds as the GPU does and flips the same rows, each a near-tie in fp32; the rows with a clear fp32
    /// margin keep their top-1. 0 runs a fresh seed.
    /// </summary>
    [Theory]
    [InlineData(163946855)]
    [InlineData(0)]
    public void OverflowNetInBf16KeepsTop1WhereFp32IsDecisive(int fixedSeed)
    {
        int seed = fixedSeed != 0 ? fixedSeed : RandomTensors.FreshSeed();
        const int rows = 64;
        var g = Optimizer.Optimize(OverflowNet.Build(seed));
        var x = Tensor.FromFloats(TrtNative.Runtime.RandomInputs.Normal(new Random(seed + 1), rows * 3 * 16 * 16), [rows, 3, 16, 16]);
        var inputs = new Dictionary<string, Tensor> { [OverflowNet.Input] = x };
        var want = ReferenceExecutor.Run(g, inputs)[OverflowNet.Output].Floats!;
        var got = new ProgramInterpreter(Lower(g)).Run(inputs)[OverflowNet.Output].Floats!;
        double err = RelativeL2.Of(got, want);
        var c = OutputComparison.Of("logits", got, want, [rows, want.Length / rows]);
        int agree = c.DecisiveTop1Agree, decisive = c.DecisiveRows;
        output.WriteLine($"seed {seed}: rel L2 {err:E3}, top-1 {c.Top1Agree}/{rows}, {agree}/{decisive} where decisive");
        Assert.True(err <= 2e-2, $"rel L2 {err:E3} (seed {seed})");
        Assert.True(decisive >= rows / 2, $"{decisive} decisive rows (seed {seed})");
        Assert.Equal(decisive, agree);
        if (fixedSeed != 0) Assert.Equal(61, c.Top1Agree);
    }

    [Fact]
    public void MobileNetV2InBf16MatchesOnnxRuntime() => CheckModel("mobilenet_v2");

    /// <summary>EfficientNet-B0's squeeze-excitation gates become gated GEMM weights (FuseScaleIntoPointwiseConv): their bias in bf16.</summary>
    [Fact]
    public void EfficientNetB0InBf16MatchesOnnxRuntime()
    {
        var program = CheckModel("efficientnet_b0");
        Assert.Contains(program.Tensors, t => t.Name.EndsWith(".bias16", StringComparison.Ordinal) && t.DType == NativeDType.BFloat16);
    }

    private LayerProgram CheckModel(string model)
    {
        string path = TorchvisionExports.Get(model);
        var graph = Optimizer.Optimize(OnnxImporter.Load(path));
        var program = Lower(graph);
        int seed = RandomTensors.FreshSeed();
        var inputs = new Dictionary<string, Tensor> { [graph.Inputs[0].Name] = RandomTensors.Normal([1, 3, 224, 224], seed) };
        var want = OrtRunner.Run(path, inputs);
        var got = new ProgramInterpreter(program).Run(inputs);
        foreach (var (name, w) in want)
        {
            double err = RelativeL2.AssertWithin(got[name], w, 2e-2, $"{model} bf16 '{name}' (seed {seed})");
            output.WriteLine($"{model} bf16 {name}: rel L2 {err:E3} (seed {seed})");
        }
        // The engine edges stay fp32; the conversions are bf16 copies.
        Assert.All(program.Inputs.Concat(program.Outputs), b => Assert.Equal(NativeDType.Float32, program.Tensors[b.TensorId].DType));
        return program;
    }
}
