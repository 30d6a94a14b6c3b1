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
    private static unsafe (int[] Q, int[] K, int[] V, int[] O, float Scale, int Tactic, int[] FixedAxis, int[] FixedIndex) Params(ProgramLayer l)
    {
        Assert.Equal(sizeof(AttentionParams), l.Params.Length);
        var p = MemoryMarshal.Read<AttentionParams>(l.Params);
        int[] A(int* x, int n = 4) => Enumerable.Range(0, n).Select(i => x[i]).ToArray();
        return (A(p.QPerm), A(p.KPerm), A(p.VPerm), A(p.OPerm), p.Scale, p.Tactic, A(p.FixedAxis, 3), A(p.FixedIndex, 3));
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
        // The head reshapes are aliases: the layer reads the three engine inputs' memory (fp16: converted copies of those views).
        var engineInputs = program.Inputs.Select(i => i.TensorId).ToList();
        var read = l.Inputs.Select(program.Root).ToList();
        if (fp16) read = read.Select(t => Assert.Single(program.Layers, c => c.Kind == LayerKind.Copy && c.Outputs.Contains(t)).Inputs[0]).Select(program.Root).ToList();
        Assert.Equal(engineInputs, read);
        // Copies: the output binding only, plus the fp16 conversions of three inputs.
        Assert.Equal(fp16 ? 4 : 1, program.Layers.Count(l => l.Kind == LayerKind.Copy));
        var p = Params(l);
        Assert.Equal([1, 2, 0, 3], p.Q);   // [S, B, H, D] read as [B, H, S, D]
        Assert.Equal([1, 2, 0, 3], p.K);
        Assert.Equal([1, 2, 0, 3], p.V);
        Assert.Equal([1, 2, 0, 3], p.O);
        Assert.Equal(0.5f, p.Scale);
        Assert.Equal(-1, p.Tactic);
        Assert.True(l.Tunable);  // autotuning times our kernels against cuDNN's flash attention
        Assert.Equal(program.Tensors[l.Inputs[0]].DType, fp16 ? NativeDType.Float16 : NativeDType.Float32);

        // The tactic field is the last int32, after four int32[4] permutations and the scale (trtnative.h).
        Assert.Equal(68, ProgramLayer.TacticOffset(LayerKind.Attention));
        l.Tactic = 1;
        Assert.Equal(1, BitConverter.ToInt32(l.ParamsWithTactic(), 68));
        Assert.Equal(p.Q, Params(new ProgramLayer { Name = "x", Kind = l.Kind, Params = l.ParamsWithTactic(), Inputs = [], Outputs = [] }).Q);
        // And the plan payload carries the layer byte for byte.
        byte[] Bytes(LayerProgram x)
        {
            using var ms = new MemoryStream();
            using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) x.Write(w);
            return ms.ToArray();
        }
        var back = LayerProgram.Read(new BinaryReader(new MemoryStream(Bytes(program))));
        Assert.Equal(Bytes(program), Bytes(back));
        Assert.Equal(l.Params, back.Layers.Single(x => x.Kind == LayerKind.Attention).Params);
    }

    /// <summary>
    /// torchvision's ViT encoder attention: tokens [batch, S, E] transposed to seq-first, the packed in-projection
    /// (a row-wise product that keeps the batch-first memory), three Slices, nn.MultiheadAttention's head reshapes
    /// and transposes, out-projection Gemm, back to batch-first.
    /// </summary>
    [Fact]
    public void VitAttentionBlockReadsTheSlicesWithoutReordering()
    {
        const long s = 5, e = 8, d = 4;   // 2 heads
        var b = new Passes.GraphBuilder();
        var x = b.Op("Transpose", [b.Input("x", [Dim.Sym("batch"), Dim.Of(s), Dim.Of(e)])], n => n.Set("perm", new long[] { 1, 0, 2 }));
        var qkv = b.Op("Add", b.Op("MatMul", x, b.Init("w_in", [e, 3 * e])), b.Init("b_in", [3 * e]));
        string Part(int k) => b.Op("Reshape", b.Op("Slice", qkv, b.Ints($"start{k}", k * e), b.Ints($"end{k}", (k + 1) * e), b.Ints($"axis{k}", 2)), b.Ints($"heads{k}", s, -1, d));
        var q = b.Op("Div", b.Op("Transpose", [Part(0)], n => n.Set("perm", new long[] { 1, 0, 2 })), b.Scalar("sqrt_d", 2f));
        var kt = b.Op("Transpose", [Part(1)], n => n.Set("perm", new long[] { 1, 2, 0 }));
        var v = b.Op("Transpose", [Part(2)], n => n.Set("perm", new long[] { 1, 0, 2 }));
        var o = b.Op("MatMul", b.Op("Softmax", [b.Op("MatMul", q, kt)], n => n.Set("axis", -1L)), v);
        o = b.Op("Reshape", b.Op("Transpose", [o], n => n.Set("perm", new long[] { 1, 0, 2 })), b.Ints("merge", -1, e));
        o = b.Op("Gemm", [o, b.Init("w_out", [e, e]), b.Init("b_out", [e])], n => n.Set("transB", 1L));
        o = b.Op("Reshape", o, b.Ints("unflatten", s, -1, e));
        var g = Optimizer.Optimize(b.Build(b.Op("Transpose", [o], n => n.Set("perm", new long[] { 1, 0, 2 }))));
        Assert.Equal(1, PassCheck.Count(g, "trtnative.Attention"));

        var program = LowerAndCompare(g, fp16: false);

        var l = Assert.Single(program.Layers, l => l.Kind == LayerKind.Attention);
        // Q, K and V are read from the in-projection's output itself (batch-first, as it was written): the slices are
        // the fixed index of its 3·E axis seen as [3, heads, D] (FuseSliceIntoAttention), so no slice is copied.
        var projection = program.Layers.First(c => c.Kind == LayerKind.Gemm);
        Assert.All(l.Inputs, i => Assert.Equal(projection.Outputs[0], program.Root(i)));
        Assert.All(l.Inputs, i => Assert.Equal(["batch", "5", "3", "2", "4"], program.Tensors[i].Shape.Select(dim => dim.ToString())));
        var p = Params(l);
        Assert.Equal([2, 2, 2], p.FixedAxis);
        Assert.Equal([0, 1, 2], p.FixedIndex);
        Assert.Equal([0, 3, 1, 4], p.Q);   // logical [S, B, H, D] lives as [B, S, (3), H, D]; the view is [B, H, S, D]
        Assert.Equal([1, 2, 0, 3], p.O);   // written seq-first, as the out-projection's reshape wants
        // The one copy left: the output's way back to batch-first into the engine output.
        Assert.DoesNotContain(program.Layers, c => c.Kind == LayerKind.Copy && c.Name.Contains("slice", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(1, program.Layers.Count(c => c.Kind == LayerKind.Copy));
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
        Assert.Equal([0L, 1, 2], node.GetInts("q_perm")!);

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
