using System.Runtime.InteropServices;
using TrtNative.Compiler;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Passes;
using TrtNative.Reference;
using TrtNative.Tests.Passes;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Compiler;

/// <summary>
/// trtnative.Attention lowered to one TRTN_LAYER_ATTENTION layer that reads its operands where they are (no layout
/// copies), checked in <see cref="ProgramInterpreter"/> against the reference executor.
/// </summary>
public class AttentionLoweringTests
{
    private static unsafe (int[] Q, int[] K, int[] V, int[] O, float Scale, int Tactic) Params(ProgramLayer l)
    {
        Assert.Equal(sizeof(AttentionParams), l.Params.Length);
        var p = MemoryMarshal.Read<AttentionParams>(l.Params);
        int[] A(int* x) => Enumerable.Range(0, 4).Select(i => x[i]).ToArray();
        return (A(p.QPerm), A(p.KPerm), A(p.VPerm), A(p.OPerm), p.Scale, p.Tactic);
    }

    /// <summary>Lowers the optimized graph, runs it with batch bound to 3 and compares with the reference executor.</summary>
    private static LayerProgram LowerAndCompare(Graph g, bool fp16)
    {
        var program = GpuLowering.Lower(g, fp16);
        int seed = RandomTensors.FreshSeed();
        var inputs = RandomTensors.ForInputs(g, new Dictionary<string, long> { ["batch"] = 3 }, seed);
        var want = ReferenceExecutor.Run(g, inputs, new ReferenceOptions { RoundToFp16 = fp16 });
        var got = new ProgramInterpreter(program).Run(inputs);
        foreach (var o in g.Outputs)
        {
            Assert.Equal(want[o.Name].Shape, got[o.Name].Shape);
            double err = RelativeL2.Of(got[o.Name], want[o.Name]);
            Assert.True(err <= (fp16 ? 5e-3 : 1e-6), $"'{o.Name}': rel L2 {err:E3} (seed {seed})\n{program.Dump()}");
        }
        return program;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TorchMultiheadAttentionIsOneLayerWithoutCopies(bool fp16)
    {
        var g = Optimizer.Optimize(FuseAttentionTests.TorchMultiheadAttention(new Passes.GraphBuilder(), Dim.Sym("batch")));
        Assert.Equal(1, PassCheck.Count(g, "trtnative.Attention"));

        var program = LowerAndCompare(g, fp16);

        var l = Assert.Single(program.Layers, l => l.Kind == LayerKind.Attention);
        Assert.DoesNotContain(program.Layers, l => l.Kind is LayerKind.Softmax or LayerKind.Gemm);
        // The head reshapes are aliases: the layer reads the three engine inputs' memory (fp16: their converted copies).
        var engineInputs = program.Inputs.Select(i => i.TensorId).ToList();
        var read = l.Inputs.Select(program.Root).ToList();
        if (fp16) read = read.Select(t => Assert.Single(program.Layers, c => c.Kind == LayerKind.Copy && c.Outputs.Contains(t)).Inputs[0]).ToList();
        Assert.Equal(engineInputs, read);
        // Copies: the output binding only, plus the fp16 conversions of three inputs.
        Assert.Equal(fp16 ? 4 : 1, program.Layers.Count(l => l.Kind == LayerKind.Copy));
        var p = Params(l);
        Assert.Equal([1, 0, 2, -1], p.Q);
        Assert.Equal([1, 0, 2, -1], p.K);
        Assert.Equal([1, 0, 2, -1], p.V);
        Assert.Equal([1, 0, 2, -1], p.O);
        Assert.Equal(0.5f, p.Scale);
        Assert.Equal(-1, p.Tactic);
        Assert.False(l.Tunable);
        Assert.Equal(program.Tensors[l.Inputs[0]].DType, fp16 ? NativeDType.Float16 : NativeDType.Float32);
    }

    [Fact]
    public void OperandsInAnotherMemoryOrderAreReadThroughIt()
    {
        // Relu stops the pass, so the Attention node reads Relu(Transpose(x)) in its logical order; on the GPU that
        // value lives in x's memory order, which the layer's permutation must take into account instead of a copy.
        var b = new Passes.GraphBuilder();
        string Heads(string name) => b.Op("Relu", b.Op("Transpose", [b.Input(name, [Dim.Of(5), Dim.Sym("batch"), Dim.Of(4)])], n => n.Set("perm", new long[] { 1, 0, 2 })));
        var q = Heads("q");
        var kt = b.Op("Transpose", [Heads("k")], n => n.Set("perm", new long[] { 0, 2, 1 }));
        var scores = b.Op("MatMul", q, kt);
        var g = Optimizer.Optimize(b.Build(b.Op("MatMul", b.Op("Softmax", [scores], n => n.Set("axis", -1L)), Heads("v"))));
        var node = PassCheck.Single(g, "trtnative.Attention");
        Assert.Equal([0L, 1, 2], node.GetInts("q_perm"));

        var program = LowerAndCompare(g, fp16: false);

        var p = Params(Assert.Single(program.Layers, l => l.Kind == LayerKind.Attention));
        Assert.Equal([1, 0, 2, -1], p.Q);   // Q [batch, 5, 4] lives as [5, batch, 4]
        Assert.Equal([1, 0, 2, -1], p.K);
        Assert.Equal([1, 0, 2, -1], p.V);
        Assert.Equal([0, 1, 2, -1], p.O);
        Assert.Equal(1, program.Layers.Count(l => l.Kind == LayerKind.Copy));   // the output binding: the output is [batch, 5, 4] in memory order
    }

    [Fact]
    public void HuggingFaceLayoutIsOneLayer()
    {
        var b = new Passes.GraphBuilder();
        var split = b.Ints("split", 0, 0, 2, 4);
        string Heads(string name) => b.Op("Transpose", [b.Op("Reshape", b.Input(name, [Dim.Sym("batch"), Dim.Of(6), Dim.Of(8)]), split)], n => n.Set("perm", new long[] { 0, 2, 1, 3 }));
        var kt = b.Op("Transpose", [Heads("k")], n => n.Set("perm", new long[] { 0, 1, 3, 2 }));
        var scores = b.Op("Mul", b.Op("MatMul", Heads("q"), kt), b.Scalar("scale", 0.35f));
        var o = b.Op("MatMul", b.Op("Softmax", [scores], n => n.Set("axis", -1L)), Heads("v"));
        o = b.Op("Transpose", [o], n => n.Set("perm", new long[] { 0, 2, 1, 3 }));
        var g = Optimizer.Optimize(b.Build(b.Op("Reshape", o, b.Ints("merge", 0, 0, 8))));

        var program = LowerAndCompare(g, fp16: false);

        var p = Params(Assert.Single(program.Layers, l => l.Kind == LayerKind.Attention));
        Assert.Equal([0, 2, 1, 3], p.Q);
        Assert.Equal([0, 2, 1, 3], p.K);
        Assert.Equal([0, 2, 1, 3], p.O);
        Assert.Equal(0.35f, p.Scale);
        Assert.Equal(1, program.Layers.Count(l => l.Kind == LayerKind.Copy));
    }
}
