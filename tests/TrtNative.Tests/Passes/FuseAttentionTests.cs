using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class FuseAttentionTests
{
    private static long[] Ints(Node n, string attr) => n.GetInts(attr)!;

    private static string Transpose(GraphBuilder b, string x, params long[] perm) => b.Op("Transpose", [x], n => n.Set("perm", perm));

    private static string Softmax(GraphBuilder b, string x, long axis = -1) => b.Op("Softmax", [x], n => n.Set("axis", axis));

    /// <summary>
    /// torch's nn.MultiheadAttention (torchvision ViT) at opset 17: q, k, v [S, B, E] reshaped to [S, B·H, D];
    /// Q = Div(Transpose [1,0,2], √D), Kᵀ = Transpose [1,2,0], V = Transpose [1,0,2], O read by Transpose [1,0,2]
    /// and merged back to [S·B, E].
    /// </summary>
    internal static Graph TorchMultiheadAttention(GraphBuilder b, Dim batch, long s = 5, long heads = 2, long d = 4)
    {
        var shape = b.Ints("heads_shape", 0, -1, d);
        string Heads(string x) => b.Op("Reshape", x, shape);
        var q = Heads(b.Input("q", [Dim.Of(s), batch, Dim.Of(heads * d)]));
        var k = Heads(b.Input("k", [Dim.Of(s), batch, Dim.Of(heads * d)]));
        var v = Heads(b.Input("v", [Dim.Of(s), batch, Dim.Of(heads * d)]));
        var qs = b.Op("Div", Transpose(b, q, 1, 0, 2), b.Scalar("sqrt_d", MathF.Sqrt(d)));
        var scores = b.Op("MatMul", qs, Transpose(b, k, 1, 2, 0));
        var o = b.Op("MatMul", Softmax(b, scores), Transpose(b, v, 1, 0, 2));
        var merged = b.Op("Reshape", Transpose(b, o, 1, 0, 2), b.Ints("merge_shape", -1, heads * d));
        return b.Build(merged);
    }

    [Fact]
    public void TorchMultiheadAttentionFusesWithEveryTransposeAbsorbedAndTheHeadsSplit()
    {
        var g = TorchMultiheadAttention(new GraphBuilder(), Dim.Sym("batch"));

        var after = Apply(GraphPasses.FuseAttention, g, out var log);

        // [S, B, E] is read as [S, B, H, D] (a view in any memory order whose last axis is innermost) instead of the
        // exporter's [S, B·H, D] (none when the memory is batch-first); O [S, B, H, D] is reshaped back.
        var a = Single(after, "trtnative.Attention");
        Assert.Equal(["Reshape", "Reshape", "Reshape", "Attention", "Reshape", "Reshape"], after.Nodes.Select(n => n.OpType));
        var splits = after.Nodes.Take(3).ToList();
        Assert.Equal(["q", "k", "v"], splits.Select(n => n.Inputs[0]));
        Assert.All(splits, n => Assert.Equal([0L, 0, 2, 4], after.Initializers[n.Inputs[1]].Ints!));
        Assert.Equal(splits.Select(n => n.Outputs[0]), a.Inputs);
        Assert.Equal([1L, 2, 0, 3], Ints(a, "q_perm"));   // [B, H, S, D]
        Assert.Equal([1L, 2, 0, 3], Ints(a, "k_perm"));   // Kᵀ's [1,2,0] with its last two axes swapped, B·H split
        Assert.Equal([1L, 2, 0, 3], Ints(a, "v_perm"));
        Assert.Equal([1L, 2, 0, 3], Ints(a, "o_perm"));
        Assert.Equal(0.5f, a.GetFloat("scale", 0));
        Assert.Equal(a.Outputs[0], after.Nodes[4].Inputs[0]);
        Assert.Equal([0L, -1, 4], after.Initializers[after.Nodes[4].Inputs[1]].Ints!);
        Assert.Contains("4-D Attention", Assert.Single(log.Entries).Message);
        SameOutputs(g, after);
    }

    [Fact]
    public void MergedHeadsAreNotSplitWhenTheOperandsDisagree()
    {
        // Q and K merge batch 1 × 4 heads, V batch 2 × 2 heads: the same B·H = 4, so the 3-D attention is valid and
        // fuses on the exporter's reshapes, but there is no common [B, H] to split into.
        var b = new GraphBuilder();
        string Heads(string name, long batch, long e, long d) => b.Op("Reshape", b.Input(name, 5, batch, e), b.Ints(name + "_shape", 0, -1, d));
        var q = Heads("q", 1, 16, 4);
        var k = Heads("k", 1, 16, 4);
        var v = Heads("v", 2, 4, 2);
        var scores = b.Op("MatMul", Transpose(b, q, 1, 0, 2), Transpose(b, k, 1, 2, 0));
        var g = b.Build(b.Op("MatMul", Softmax(b, scores), Transpose(b, v, 1, 0, 2)));

        var after = Apply(GraphPasses.FuseAttention, g);

        var a = Single(after, "trtnative.Attention");
        Assert.Equal([1L, 0, 2], Ints(a, "q_perm"));
        Assert.Equal([q, k, v], a.Inputs);
        Assert.Equal(3, Count(after, "Reshape"));
        SameOutputs(g, after);
    }

    /// <summary>
    /// HuggingFace BERT/ViT self-attention: x [B, S, E] reshaped to [B, S, H, D] and Transpose [0,2,1,3] to heads; Kᵀ
    /// is Transpose [0,1,3,2] of that; the scores are multiplied by a scalar; O goes back through Transpose [0,2,1,3].
    /// </summary>
    [Fact]
    public void HuggingFaceSelfAttentionFuses()
    {
        var b = new GraphBuilder();
        const long s = 6, heads = 3, d = 4;
        var batch = Dim.Sym("batch");
        var split = b.Ints("split", 0, 0, heads, d);
        string Heads(string name) => Transpose(b, b.Op("Reshape", b.Input(name, [batch, Dim.Of(s), Dim.Of(heads * d)]), split), 0, 2, 1, 3);
        var q = Heads("q");
        var kt = Transpose(b, Heads("k"), 0, 1, 3, 2);
        var v = Heads("v");
        var scores = b.Op("Mul", b.Op("MatMul", q, kt), b.Scalar("scale", 0.5f));
        var o = b.Op("MatMul", Softmax(b, scores), v);
        var g = b.Build(b.Op("Reshape", Transpose(b, o, 0, 2, 1, 3), b.Ints("merge", 0, 0, heads * d)));

        var after = Apply(GraphPasses.FuseAttention, g);

        var a = Single(after, "trtnative.Attention");
        Assert.Equal(0, Count(after, "Transpose"));
        Assert.Equal([0L, 2, 1, 3], Ints(a, "q_perm"));
        Assert.Equal([0L, 2, 1, 3], Ints(a, "k_perm"));   // [0,2,1,3] then [0,1,3,2] is Kᵀ = [0,2,3,1]; K is [0,2,1,3]
        Assert.Equal([0L, 2, 1, 3], Ints(a, "v_perm"));
        Assert.Equal([0L, 2, 1, 3], Ints(a, "o_perm"));
        Assert.Equal(0.5f, a.GetFloat("scale", 0));
        SameOutputs(g, after);
    }

    public enum ScaleAt { None, MulQ, ConstantFirstMulQ, DivKT, DivScores, MulScoresAndDivQ }

    [Theory]
    [InlineData(ScaleAt.None, 1f)]
    [InlineData(ScaleAt.MulQ, 0.25f)]
    [InlineData(ScaleAt.ConstantFirstMulQ, 0.25f)]
    [InlineData(ScaleAt.DivKT, 0.5f)]
    [InlineData(ScaleAt.DivScores, 0.5f)]
    [InlineData(ScaleAt.MulScoresAndDivQ, 0.75f)]
    public void ScaleIsTakenFromWhereverItIs(ScaleAt at, float want)
    {
        // Cross attention with a plain [B, H, S, D] layout: Sq 5, Skv 7, D 4, Dv 6; O is the graph output.
        var b = new GraphBuilder();
        var q = b.Input("q", 2, 3, 5, 4);
        var k = b.Input("k", 2, 3, 7, 4);
        var v = b.Input("v", 2, 3, 7, 6);
        if (at is ScaleAt.MulQ) q = b.Op("Mul", q, b.Scalar("c", 0.25f));
        if (at is ScaleAt.ConstantFirstMulQ) q = b.Op("Mul", b.Init("c", Tensor.FromFloats([0.25f], [1, 1, 1, 1])), q);
        if (at is ScaleAt.MulScoresAndDivQ) q = b.Op("Div", q, b.Scalar("c", 2f));
        var kt = Transpose(b, k, 0, 1, 3, 2);
        if (at is ScaleAt.DivKT) kt = b.Op("Div", kt, b.Scalar("c", 2f));
        var scores = b.Op("MatMul", q, kt);
        if (at is ScaleAt.DivScores) scores = b.Op("Div", scores, b.Init("c", Tensor.FromFloats([2f], [1])));
        if (at is ScaleAt.MulScoresAndDivQ) scores = b.Op("Mul", scores, b.Scalar("c2", 1.5f));
        var g = b.Build(b.Op("MatMul", Softmax(b, scores, 3), v));

        var after = Apply(GraphPasses.FuseAttention, g);

        var a = Single(after, "trtnative.Attention");
        Assert.Single(after.Nodes);
        Assert.Equal(["q", "k", "v"], a.Inputs);
        Assert.Equal([0L, 1, 2, 3], Ints(a, "q_perm"));
        Assert.Equal([0L, 1, 2, 3], Ints(a, "k_perm"));
        Assert.Equal([0L, 1, 2, 3], Ints(a, "o_perm"));
        Assert.Equal(want, a.GetFloat("scale", 0), 6);
        Assert.Equal(g.Outputs[0].Name, a.Outputs[0]);
        SameOutputs(g, after);
    }

    [Fact]
    public void TransposeReadElsewhereStaysAndTheScaleBelowItIsNotTaken()
    {
        // Q = Transpose(Mul(q, c)) and that Transpose is also a graph output: both must stay, Attention reads the
        // Mul's result (scale 1).
        var b = new GraphBuilder();
        var scaled = b.Op("Mul", b.Input("q", 2, 5, 4), b.Scalar("c", 0.5f));
        var q = Transpose(b, scaled, 0, 1, 2);
        var scores = b.Op("MatMul", q, Transpose(b, b.Input("k", 2, 4, 5), 0, 1, 2));
        var g = b.Build(b.Op("MatMul", Softmax(b, scores), b.Input("v", 2, 5, 3)), q);

        var after = Apply(GraphPasses.FuseAttention, g);

        var a = Single(after, "trtnative.Attention");
        Assert.Equal(1f, a.GetFloat("scale", 0));
        Assert.Equal(scaled, a.Inputs[0]);
        Assert.Equal(1, Count(after, "Mul"));
        Assert.Equal(1, Count(after, "Transpose"));   // the one that is a graph output; K's went
        Assert.Equal([0L, 2, 1], Ints(a, "k_perm"));
        SameOutputs(g, after);
    }

    /// <summary>A 4-D attention whose parts tests change to break the pattern.</summary>
    private static Graph Attention(Action<GraphBuilder, Dictionary<string, string>>? change = null, string? extraOutput = null)
    {
        var b = new GraphBuilder();
        var x = new Dictionary<string, string>
        {
            ["q"] = b.Input("q", 2, 3, 5, 4),
            ["k"] = b.Input("k", 2, 3, 5, 4),
            ["v"] = b.Input("v", 2, 3, 5, 4),
        };
        change?.Invoke(b, x);
        x["kt"] = Transpose(b, x["k"], 0, 1, 3, 2);
        x["scores"] = b.Op("MatMul", x["q"], x["kt"]);
        x["scaled"] = b.Op(x.GetValueOrDefault("scale_op", "Mul"), x["scores"], x.GetValueOrDefault("scale") ?? b.Scalar("c", 0.5f));
        if (x.ContainsKey("swap_scale")) b.Graph.Nodes[^1].Inputs.Reverse();
        x["p"] = Softmax(b, x["scaled"], long.Parse(x.GetValueOrDefault("axis", "-1")));
        x["o"] = b.Op("MatMul", x["p"], x["v"]);
        return extraOutput is null ? b.Build(x["o"]) : b.Build(x["o"], x[extraOutput]);
    }

    [Fact]
    public void TheUnchangedNegativeCaseTemplateFuses()
    {
        // The graph the cases below break, unbroken: it fuses (so each of them fails for its own reason).
        var g = Attention();
        var after = Apply(GraphPasses.FuseAttention, g);
        Assert.Single(after.Nodes);
        Assert.Equal(0.5f, Single(after, "trtnative.Attention").GetFloat("scale", 0));
        SameOutputs(g, after);
    }

    /// <summary>The same attention with a fifth (size-1) leading axis: the fused layer takes rank 3 or 4 only.</summary>
    private static Graph Rank5()
    {
        var b = new GraphBuilder();
        var scores = b.Op("MatMul", b.Input("q", 1, 2, 3, 5, 4), Transpose(b, b.Input("k", 1, 2, 3, 5, 4), 0, 1, 2, 4, 3));
        return b.Build(b.Op("MatMul", Softmax(b, scores), b.Input("v", 1, 2, 3, 5, 4)));
    }

    public static TheoryData<string> NotAttention => new()
    {
        "softmax over another axis", "scores also an output", "scaled scores also an output", "probabilities also an output",
        "non-scalar scale", "constant divided by the scores", "K broadcast over the batch", "rank 5",
    };

    [Theory]
    [MemberData(nameof(NotAttention))]
    public void IsNotFused(string why)
    {
        var g = why switch
        {
            "softmax over another axis" => Attention((b, x) => x["axis"] = "2"),
            "scores also an output" => Attention(extraOutput: "scores"),
            "scaled scores also an output" => Attention(extraOutput: "scaled"),
            "probabilities also an output" => Attention(extraOutput: "p"),
            "non-scalar scale" => Attention((b, x) => x["scale"] = b.Init("c", [5], 0.5f, 1f)),
            "constant divided by the scores" => Attention((b, x) => { x["scale_op"] = "Div"; x["swap_scale"] = ""; x["scale"] = b.Scalar("c", 2f); }),
            "K broadcast over the batch" => Attention((b, x) => x["k"] = b.Input("k1", 1, 3, 5, 4)),
            "rank 5" => Rank5(),
            _ => throw new ArgumentException(why),
        };
        int softmaxes = Count(g, "Softmax");

        var after = Apply(GraphPasses.FuseAttention, g, out var log);

        Assert.Equal(0, Count(after, "trtnative.Attention"));
        Assert.Equal(softmaxes, Count(after, "Softmax"));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }

    [Fact]
    public void IsInTheOptimizerAfterShapeChainsAreFolded()
    {
        var names = Optimizer.Pipeline.Select(p => p.Name).ToList();
        int fuse = names.IndexOf(nameof(GraphPasses.FuseAttention));
        // After the shape chains are folded (Reshape targets are constants), before reshape chains are collapsed
        // (the Reshape back from split heads merges with the exporter's own).
        Assert.True(fuse > names.IndexOf(nameof(GraphPasses.FoldConstants)), string.Join(", ", names));
        Assert.True(fuse < names.IndexOf(nameof(GraphPasses.RemoveNoOpReshapes)), string.Join(", ", names));
        Assert.True(fuse < names.IndexOf(nameof(GraphPasses.RemoveDeadNodes)), string.Join(", ", names));

        // Through the whole pipeline the torch pattern becomes the head splits, one Attention and one Reshape.
        var g = TorchMultiheadAttention(new GraphBuilder(), Dim.Of(2));
        var opt = Optimizer.Optimize(g);
        Assert.Equal(1, Count(opt, "trtnative.Attention"));
        Assert.Equal(4, Count(opt, "Reshape"));
        Assert.Equal(0, Count(opt, "Softmax") + Count(opt, "Transpose") + Count(opt, "MatMul"));
        SameOutputs(g, opt);
    }
}
