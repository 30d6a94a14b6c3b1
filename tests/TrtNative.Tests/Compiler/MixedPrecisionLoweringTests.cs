using TrtNative.Compiler;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;
using TrtNative.Reference;
using TrtNative.Tests.Models;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Compiler;

/// <summary>
/// Per-node precision in the lowering (<see cref="LoweringOptions.KeepFp32"/>), checked in <see cref="ProgramInterpreter"/>
/// (which rounds every fp16 tensor it writes, overflow to ±inf included) against ONNX Runtime.
/// </summary>
public class MixedPrecisionLoweringTests(ITestOutputHelper output)
{
    private static readonly string[] Protected = [OverflowNet.BigConv, OverflowNet.ScaleDown];

    internal static LayerProgram Lower(Graph optimized, bool fp16, params string[] keep) =>
        GpuLowering.Lower(optimized, new LoweringOptions { Fp16 = fp16, KeepFp32 = keep.ToDictionary(k => k, _ => "test") });

    /// <summary>Copy layers that change the element type (precision boundaries, engine edges included).</summary>
    internal static int Conversions(LayerProgram p) =>
        p.Layers.Count(l => l.Kind == LayerKind.Copy && p.Tensors[l.Inputs[0]].DType != p.Tensors[l.Outputs[0]].DType);

    private static long NonFinite(Tensor t) => t.Floats!.Count(v => !float.IsFinite(v));

    private (Graph Optimized, Dictionary<string, Tensor> Inputs, Tensor Want, int Seed) OverflowCase(long batch = 4)
    {
        int seed = RandomTensors.FreshSeed();
        var g = OverflowNet.Build(seed);
        var inputs = new Dictionary<string, Tensor> { [OverflowNet.Input] = RandomTensors.Normal([batch, 3, 16, 16], seed) };
        var want = OrtRunner.Run(OnnxExporter.ToBytes(g), inputs)[OverflowNet.Output];
        Assert.Equal(0, NonFinite(want));
        return (Optimizer.Optimize(g), inputs, want, seed);
    }

    [Fact]
    public void OverflowNetIsNaNInFp16AndFiniteWithTheBigConvAndItsReaderKeptInFp32()
    {
        var (g, inputs, want, seed) = OverflowCase();
        Assert.Contains(g.Nodes, n => n.Name == OverflowNet.BigConv);
        Assert.Contains(g.Nodes, n => n.Name == OverflowNet.ScaleDown);

        var fp32 = new ProgramInterpreter(Lower(g, fp16: false)).Run(inputs)[OverflowNet.Output];
        RelativeL2.AssertWithin(fp32, want, 1e-5, $"fp32 (seed {seed})");

        var pureProgram = Lower(g, fp16: true);
        var pure = new ProgramInterpreter(pureProgram).Run(inputs)[OverflowNet.Output];
        output.WriteLine($"pure fp16: {NonFinite(pure)} of {pure.Length} logits non-finite");
        Assert.True(NonFinite(pure) > 0, $"the overflow net must overflow in fp16 (seed {seed})");

        // The big conv alone in fp32 is not enough: the scale-down then reads its large output converted to fp16.
        var convOnly = new ProgramInterpreter(Lower(g, fp16: true, OverflowNet.BigConv)).Run(inputs)[OverflowNet.Output];
        Assert.True(NonFinite(convOnly) > 0, $"keeping only the conv in fp32 still overflows at the boundary (seed {seed})");

        var mixedProgram = Lower(g, fp16: true, Protected);
        var mixed = new ProgramInterpreter(mixedProgram).Run(inputs)[OverflowNet.Output];
        Assert.Equal(0, NonFinite(mixed));
        double err = RelativeL2.AssertWithin(mixed, want, 1e-2, $"fp16 with {string.Join(", ", Protected)} in fp32 (seed {seed})");
        output.WriteLine($"mixed: rel L2 {err:E3}");

        // Two boundaries more than pure fp16: conv1 (fp16) -> conv_big (fp32), scale_down (fp32) -> relu2 (fp16).
        Assert.Equal(Conversions(pureProgram) + 2, Conversions(mixedProgram));
        Assert.Equal(pureProgram.Layers.Count(l => l.Kind == LayerKind.Copy) + 2, mixedProgram.Layers.Count(l => l.Kind == LayerKind.Copy));
        // The kept layers compute in fp32 with fp32 weights; the others stay fp16.
        foreach (var l in mixedProgram.Layers.Where(l => l.Kind != LayerKind.Copy))
        {
            bool kept = Protected.Any(k => l.Name.StartsWith(k, StringComparison.Ordinal));
            var want32 = kept ? NativeDType.Float32 : NativeDType.Float16;
            Assert.Equal(want32, mixedProgram.Tensors[l.Outputs[0]].DType);
            Assert.All(l.Inputs.Where(i => i >= 0 && mixedProgram.Tensors[i].DType.IsFloat()), i =>
                Assert.True(mixedProgram.Tensors[i].DType == want32 || mixedProgram.Tensors[i].Name.EndsWith(".B", StringComparison.Ordinal),
                    $"{l.Name} reads {mixedProgram.Tensors[i].Name} as {mixedProgram.Tensors[i].DType}"));
        }
        Assert.Equal(Protected, mixedProgram.KeptFp32.Select(k => k.Node).Order());
        Assert.All(mixedProgram.KeptFp32, k => Assert.Equal("test", k.Reason));
    }

    [Fact]
    public void EveryNodeKeptInFp32MatchesToFp32ToleranceWithNoConversionsInside()
    {
        var (g, inputs, want, seed) = OverflowCase(batch: 3);
        var all = Lower(g, fp16: true, g.Nodes.Select(n => n.Name).ToArray());
        var got = new ProgramInterpreter(all).Run(inputs)[OverflowNet.Output];
        RelativeL2.AssertWithin(got, want, 1e-5, $"fp16 program with every node in fp32 (seed {seed})");
        Assert.Equal(0, Conversions(all));
        Assert.DoesNotContain(all.Tensors, t => t.DType == NativeDType.Float16);
        var fp32 = Lower(g, fp16: false);
        Assert.Equal(fp32.Layers.Count, all.Layers.Count);
        Assert.Equal(g.Nodes.Count, all.KeptFp32.Count);
        // A pure fp32 program records nothing: there is no reduced precision to keep nodes out of.
        Assert.Empty(Lower(g, fp16: false, OverflowNet.BigConv).KeptFp32);
    }

    [Fact]
    public void AttentionKeptInFp32InsideAnFp16ProgramMatchesTheReference()
    {
        var g = Optimizer.Optimize(Passes.FuseAttentionTests.TorchMultiheadAttention(new Passes.GraphBuilder(), Dim.Sym("batch")));
        var attention = Assert.Single(g.Nodes, n => n.OpType == "Attention").Name;
        int seed = RandomTensors.FreshSeed();
        var inputs = RandomTensors.ForInputs(g, new Dictionary<string, long> { ["batch"] = 3 }, seed);
        var want = ReferenceExecutor.Run(g, inputs);
        var pure = Lower(g, fp16: true);
        var mixed = Lower(g, fp16: true, attention);
        var layer = Assert.Single(mixed.Layers, l => l.Kind == LayerKind.Attention);
        Assert.All(layer.Inputs.Append(layer.Outputs[0]), t => Assert.Equal(NativeDType.Float32, mixed.Tensors[t].DType));
        // The three inputs are read in fp32 as given (no fp16 round trip); the output copy converts nothing.
        Assert.Equal(0, Conversions(mixed));
        Assert.Equal(4, Conversions(pure)); // pure fp16: the three inputs and the output
        foreach (var o in g.Outputs)
        {
            var got = new ProgramInterpreter(mixed).Run(inputs)[o.Name];
            RelativeL2.AssertWithin(got, want[o.Name], 1e-6, $"'{o.Name}' (seed {seed})");
        }
    }

    [Fact]
    public void ObservedProgramOutputsEveryNodeValueInFp32()
    {
        var (g, inputs, _, seed) = OverflowCase(batch: 2);
        var program = GpuLowering.Lower(g, new LoweringOptions { Fp16 = false, Observe = true });
        var names = g.Nodes.SelectMany(n => n.Outputs).ToList();
        Assert.Equal(names.Order(), program.Outputs.Select(o => o.Name).Order());
        Assert.All(program.Outputs, o => Assert.Equal(NativeDType.Float32, program.Tensors[o.TensorId].DType));
        var all = g.Clone();
        foreach (var name in names.Where(n => all.Outputs.All(o => o.Name != n))) all.Outputs.Add(new ValueInfo(name, DataType.Float, null));
        var want = ReferenceExecutor.Run(all, inputs);
        var got = new ProgramInterpreter(program).Run(inputs);
        foreach (var name in names)
        {
            Assert.Equal(want[name].Shape, got[name].Shape);
            RelativeL2.AssertWithin(got[name], want[name], 1e-5, $"observed '{name}' (seed {seed})");
        }
    }

    [Fact]
    public void AKeptNodeThatIsNotInTheGraphIsAnError()
    {
        var g = Optimizer.Optimize(OverflowNet.Build(1));
        var e = Assert.Throws<TrtNativeException>(() => Lower(g, fp16: true, "no_such_node"));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains("no_such_node", e.Message);
    }
}
