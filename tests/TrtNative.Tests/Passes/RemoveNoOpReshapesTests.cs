using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class RemoveNoOpReshapesTests
{
    private static readonly Dim Batch = Dim.Sym("batch");

    [Fact]
    public void ReshapeToTheSameSymbolicShapeIsRemoved()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", [Batch, Dim.Of(8)]);
        var r = b.Op("Reshape", b.Op("Relu", x), b.Ints("same", 0, 8));
        var g = b.Build(b.Op("Sigmoid", r));

        var after = Apply(GraphPasses.RemoveNoOpReshapes, g, out var log);

        Assert.Equal(["Relu", "Sigmoid"], after.Nodes.Select(n => n.OpType));
        Assert.Contains("'reshape1'", Assert.Single(log.Entries).Message);
        SameOutputs(g, after);
    }

    [Fact]
    public void NoOpFlattenWritingAGraphOutputKeepsTheOutputName()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", [Batch, Dim.Of(32)]);
        b.Node("Flatten", [b.Op("Relu", x)], ["y"]);
        var g = b.Build("y");

        var after = Apply(GraphPasses.RemoveNoOpReshapes, g);

        Assert.Equal(["y"], Single(after, "Relu").Outputs);
        Assert.Single(after.Nodes);
        SameOutputs(g, after);
    }

    [Fact]
    public void ShapeChangingReshapeIsKept()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", [Batch, Dim.Of(8)]);
        var g = b.Build(b.Op("Reshape", x, b.Ints("t", 0, 2, 4)));

        var after = Apply(GraphPasses.RemoveNoOpReshapes, g, out var log);

        Assert.Equal(1, Count(after, "Reshape"));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }

    [Fact]
    public void KnownChainCollapsesIntoOneReshape()
    {
        var b = new GraphBuilder(13);
        var x = b.Input("x", 2, 3, 4);
        var r1 = b.Op("Reshape", x, b.Ints("t1", 6, 4));
        var f = b.Op("Flatten", [r1], n => n.Set("axis", 0L));
        var u = b.Op("Unsqueeze", f, b.Ints("axes", 0));
        var g = b.Build(b.Op("Relu", u));

        var after = Apply(GraphPasses.RemoveNoOpReshapes, g);

        var reshape = Single(after, "Reshape");
        Assert.Equal(["Reshape", "Relu"], after.Nodes.Select(n => n.OpType));
        Assert.Equal("x", reshape.Inputs[0]);
        Assert.Equal([1L, 1, 24], after.Initializers[reshape.Inputs[1]].Ints!);
        SameOutputs(g, after);
    }

    [Fact]
    public void SymbolicChainUsesZeroAndMinusOne()
    {
        var b = new GraphBuilder(13);
        var x = b.Input("x", [Batch, Dim.Of(4), Dim.Of(6)]);
        var r1 = b.Op("Reshape", x, b.Ints("t1", 0, 24));
        var u = b.Op("Unsqueeze", r1, b.Ints("axes", 2));     // [batch, 24, 1]
        var t = b.Op("Transpose", [u], n => n.Set("perm", new long[] { 1, 0, 2 }));  // [24, batch, 1]
        var r2 = b.Op("Reshape", t, b.Ints("t2", 4, 6, -1));  // [4, 6, batch]
        var s = b.Op("Unsqueeze", r2, b.Ints("axes2", 0));   // [1, 4, 6, batch]
        var g = b.Build(b.Op("Relu", s));

        var after = Apply(GraphPasses.RemoveNoOpReshapes, g);

        Assert.Equal(["Reshape", "Transpose", "Reshape", "Relu"], after.Nodes.Select(n => n.OpType));
        Assert.Equal([0L, 24, 1], after.Initializers[after.Nodes[0].Inputs[1]].Ints!);
        Assert.Equal([1L, 4, 6, -1], after.Initializers[after.Nodes[2].Inputs[1]].Ints!);
        SameOutputs(g, after);
    }

    [Fact]
    public void ChainBackToTheInputShapeDisappears()
    {
        var b = new GraphBuilder(13);
        var x = b.Input("x", [Batch, Dim.Of(3), Dim.Of(4)]);
        var r1 = b.Op("Reshape", b.Op("Relu", x), b.Ints("t1", 0, 12));
        var r2 = b.Op("Reshape", r1, b.Ints("t2", -1, 3, 4));
        var g = b.Build(b.Op("Sigmoid", r2));

        var after = Apply(GraphPasses.RemoveNoOpReshapes, g);

        Assert.Equal(["Relu", "Sigmoid"], after.Nodes.Select(n => n.OpType));
        SameOutputs(g, after);
    }

    [Fact]
    public void ChainWithSharedIntermediateIsNotCollapsed()
    {
        var b = new GraphBuilder(13);
        var x = b.Input("x", 2, 3, 4);
        var r1 = b.Op("Reshape", x, b.Ints("t1", 6, 4));
        var r2 = b.Op("Reshape", r1, b.Ints("t2", 24));
        var g = b.Build(r2, r1);

        var after = Apply(GraphPasses.RemoveNoOpReshapes, g, out var log);

        Assert.Equal(2, Count(after, "Reshape"));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }
}
