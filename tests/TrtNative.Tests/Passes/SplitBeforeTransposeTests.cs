using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

/// <summary><see cref="GraphPasses.SplitBeforeTranspose"/>: merge-transpose-split chains become split + transpose.</summary>
public class SplitBeforeTransposeTests
{
    /// <summary>torch 2's heads: X [S, B, E] → [S, B·H, D] → [B·H, S, D] → [B, H, S, D], with S 5, H 3, D 4.</summary>
    private static Graph TorchHeads(long[] lastShape, bool alsoReadMerged = false)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", [Dim.Of(5), Dim.Sym("batch"), Dim.Of(12)]);
        var merged = b.Op("Reshape", x, b.Ints("merge_shape", 0, -1, 4));
        var t = b.Op("Transpose", [merged], n => n.Set("perm", new long[] { 1, 0, 2 }));
        var y = b.Op("Reshape", t, b.Ints("split_shape", lastShape));
        return alsoReadMerged ? b.Build(y, b.Op("Relu", merged)) : b.Build(y);
    }

    [Fact]
    public void TorchHeadsBecomeASplitAndATranspose()
    {
        var g = TorchHeads([-1, 3, 5, 4]);
        var after = Apply(GraphPasses.SplitBeforeTranspose, g, out var log);
        Assert.Equal(["Reshape", "Transpose"], after.Nodes.Select(n => n.OpType));
        Assert.Equal([5L, 0, 3, 4], after.Initializers[after.Nodes[0].Input(1)].ResolveInts());
        Assert.Equal([1L, 2, 0, 3], after.Nodes[1].GetInts("perm")!);
        Assert.Equal("[batch,3,5,4]", after.Values[after.Outputs[0].Name].Shape.Format());
        Assert.Single(log.Entries);
        SameOutputs(g, after);
    }

    [Theory]
    [InlineData(false, new long[] { -1, 5, 4 })]     // the last Reshape keeps B·H merged
    [InlineData(false, new long[] { -1, 3, 20 })]    // it merges S and D
    [InlineData(true, new long[] { -1, 3, 5, 4 })]   // the merged value is read elsewhere too
    public void OtherChainsStay(bool alsoReadMerged, long[] lastShape)
    {
        var g = TorchHeads(lastShape, alsoReadMerged);
        var after = Apply(GraphPasses.SplitBeforeTranspose, g, out var log);
        Assert.Empty(log.Entries);
        Assert.Equal(g.Nodes.Select(n => n.OpType), after.Nodes.Select(n => n.OpType));
    }

    /// <summary>Below opset 5 a Reshape takes its shape as an attribute: the pass leaves such graphs alone.</summary>
    [Fact]
    public void BeforeOpset5NothingChanges()
    {
        var b = new GraphBuilder(opset: 4);
        var x = b.Input("x", [Dim.Of(5), Dim.Of(2), Dim.Of(12)]);
        var merged = b.Op("Reshape", [x], n => n.Set("shape", new long[] { 5, 6, 4 }));
        var t = b.Op("Transpose", [merged], n => n.Set("perm", new long[] { 1, 0, 2 }));
        var y = b.Op("Reshape", [t], n => n.Set("shape", new long[] { 2, 3, 5, 4 }));
        var after = Apply(GraphPasses.SplitBeforeTranspose, b.Build(y), out var log);
        Assert.Empty(log.Entries);
        Assert.Equal(["Reshape", "Transpose", "Reshape"], after.Nodes.Select(n => n.OpType));
    }

    [Fact]
    public void AChainThatMergesNothingStays()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", [Dim.Of(5), Dim.Sym("batch"), Dim.Of(12)]);
        var split = b.Op("Reshape", x, b.Ints("s", 0, 0, 3, 4));
        var t = b.Op("Transpose", [split], n => n.Set("perm", new long[] { 1, 2, 0, 3 }));
        var y = b.Op("Reshape", t, b.Ints("same", 0, 0, 0, 0));
        var after = Apply(GraphPasses.SplitBeforeTranspose, b.Build(y), out var log);
        Assert.Empty(log.Entries);
    }

    [Theory]
    [InlineData(new long[] { 12, 8 }, new long[] { 4, 24 }, "[4,3,8]")]
    [InlineData(new long[] { 6 }, new long[] { 2, 3 }, "[2,3]")]
    [InlineData(new long[] { 2, 3 }, new long[] { 6 }, "[2,3]")]
    public void CommonPiecesAreTheCoarsestCut(long[] a, long[] b, string pieces) =>
        Assert.Equal(pieces, GraphPasses.CommonPieces(Shapes.Of(a), Shapes.Of(b))!.Value.Pieces.Format());

    [Fact]
    public void CommonPiecesCutARunTimeSizeOnlyAsAMultipleOfItself()
    {
        var batch = Dim.Sym("batch");
        Assert.Equal("[batch,12,64]", GraphPasses.CommonPieces([batch, Dim.Of(768)], [Dim.Sym("batch", 12), Dim.Of(64)])!.Value.Pieces.Format());
        Assert.Null(GraphPasses.CommonPieces([batch, Dim.Of(8)], [Dim.Of(8), batch]));
        Assert.Null(GraphPasses.CommonPieces(Shapes.Of(4, 6), Shapes.Of(6, 4)));
    }
}
