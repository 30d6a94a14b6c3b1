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
/// <see cref="FuseSliceIntoAttention"/>: Q, K and V sliced from one packed projection are read where they lie (a
/// fixed dim of the attention's input), the slice copies go; slices that do not tile their axis, or that something
/// else also reads, stay copies. Numerics are checked in <see cref="ProgramInterpreter"/> against the reference executor.
/// </summary>
public class FuseSliceIntoAttentionTests(ITestOutputHelper output)
{
    /// <summary>
    /// Self-attention over [batch, 6, 3·E] packed by one MatMul, cut at the given (start, end) pairs on the last axis;
    /// with <paramref name="alsoOutputK"/> the K slice is an engine output too.
    /// </summary>
    private static Graph PackedAttention((long Start, long End)[] cuts, bool alsoOutputK = false)
    {
        const long s = 6, d = 4;
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        long width = cuts.Max(c => c.End);
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(s), Dim.Of(8)]);
        var packed = b.Op("MatMul", x, b.Init("w_in", [8, width]));
        string Part(int k) => b.Op("Slice", packed, b.Ints($"start{k}", cuts[k].Start), b.Ints($"end{k}", cuts[k].End), b.Ints($"axis{k}", 2));
        string Heads(string part, int k) => b.Op("Transpose", [b.Op("Reshape", part, b.Ints($"heads{k}", 0, s, -1, d))], n => n.Set("perm", new long[] { 0, 2, 1, 3 }));
        string kPart = Part(1);
        var q = b.Op("Div", Heads(Part(0), 0), b.Scalar("sqrt_d", 2f));
        var kt = b.Op("Transpose", [Heads(kPart, 1)], n => n.Set("perm", new long[] { 0, 1, 3, 2 }));
        var v = Heads(Part(2), 2);
        var o = b.Op("MatMul", b.Op("Softmax", [b.Op("MatMul", q, kt)], n => n.Set("axis", -1L)), v);
        return alsoOutputK ? b.Build(o, kPart) : b.Build(o);
    }

    private (LayerProgram Program, double Error) LowerAndRun(Graph g, bool fp16)
    {
        var r = InterpretedLowering.Run(g, fp16, ("x", [3, 6, 8]));
        Assert.Equal(1, TrtNative.Tests.Passes.PassCheck.Count(r.Optimized, "trtnative.Attention"));
        output.WriteLine($"{string.Join(", ", r.Program.Layers.Select(l => l.Kind))}; rel L2 {r.Error:E3} (seed {r.Seed})");
        return (r.Program, r.Error);
    }

    private static unsafe int[] FixedIndices(ProgramLayer attention)
    {
        var p = MemoryMarshal.Read<AttentionParams>(attention.Params);
        return [p.FixedIndex[0], p.FixedIndex[1], p.FixedIndex[2]];
    }

    private static unsafe int[] FixedAxes(ProgramLayer attention)
    {
        var p = MemoryMarshal.Read<AttentionParams>(attention.Params);
        return [p.FixedAxis[0], p.FixedAxis[1], p.FixedAxis[2]];
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PackedQkvIsReadWithoutSliceCopies(bool fp16)
    {
        var (program, err) = LowerAndRun(PackedAttention([(0, 8), (8, 16), (16, 24)]), fp16);
        var att = Assert.Single(program.Layers, l => l.Kind == LayerKind.Attention);
        Assert.Equal([2, 2, 2], FixedAxes(att));
        Assert.Equal([0, 1, 2], FixedIndices(att));
        var gemm = Assert.Single(program.Layers, l => l.Kind == LayerKind.Gemm);
        Assert.All(att.Inputs, i => Assert.Equal(gemm.Outputs[0], program.Root(i)));
        Assert.DoesNotContain(program.Layers, l => l.Kind == LayerKind.Copy && l.Inputs.Any(i => program.Root(i) == gemm.Outputs[0]));
        Assert.True(err <= (fp16 ? 1e-2 : 1e-6), $"rel L2 {err:E3}");
    }

    /// <summary>V first in the packing, K last: the fixed index follows the slice's start, not the input's position.</summary>
    [Fact]
    public void ChunkOrderFollowsTheSliceStarts()
    {
        var (program, err) = LowerAndRun(PackedAttention([(8, 16), (16, 24), (0, 8)]), fp16: false);
        var att = Assert.Single(program.Layers, l => l.Kind == LayerKind.Attention);
        Assert.Equal([1, 2, 0], FixedIndices(att));
        Assert.True(err <= 1e-6, $"rel L2 {err:E3}");
    }

    /// <summary>A slice that starts off a chunk boundary (Q at 4..12 of a 28-wide packing) is not a fixed index: it stays a copy.</summary>
    [Fact]
    public void SliceOffTheChunkGridStaysACopy()
    {
        var (program, err) = LowerAndRun(PackedAttention([(4, 12), (12, 20), (20, 28)]), fp16: false);
        var att = Assert.Single(program.Layers, l => l.Kind == LayerKind.Attention);
        Assert.Equal(-1, FixedAxes(att)[0]);
        Assert.True(err <= 1e-6, $"rel L2 {err:E3}");
    }

    [Fact]
    public void SliceThatIsAlsoAnEngineOutputStaysACopy()
    {
        var (program, err) = LowerAndRun(PackedAttention([(0, 8), (8, 16), (16, 24)], alsoOutputK: true), fp16: false);
        var att = Assert.Single(program.Layers, l => l.Kind == LayerKind.Attention);
        Assert.Equal([2, -1, 2], FixedAxes(att));
        Assert.True(err <= 1e-6, $"rel L2 {err:E3}");
    }

    [Fact]
    public void VitB16LosesItsThirtySixSliceCopies()
    {
        var graph = Optimizer.Optimize(OnnxImporter.Load(TorchvisionExports.Get("vit_b_16")));
        var program = GpuLowering.Lower(graph, fp16: true);
        int copies = program.Layers.Count(l => l.Kind == LayerKind.Copy);
        var sliced = program.Layers.Where(l => l.Kind == LayerKind.Attention).Select(FixedAxes).ToList();
        output.WriteLine($"vit_b_16 fp16: {copies} copies, {program.Layers.Count} layers; attention fixed axes {string.Join(" ", sliced.Select(a => string.Join(",", a)))}");
        Assert.Equal(12, sliced.Count);
        Assert.All(sliced, a => Assert.DoesNotContain(-1, a));
        Assert.DoesNotContain(program.Layers, l => l.Kind == LayerKind.Copy && l.Name.Contains("Slice", StringComparison.Ordinal));
    }
}
