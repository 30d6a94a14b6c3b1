using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class FoldScaleIntoMatMulTests
{
    /// <summary>ConvNeXt's block tail: Linear (MatMul + bias) in NHWC, Transpose back to NCHW, layer scale [C,1,1].</summary>
    [Fact]
    public void LayerScaleAfterTransposeFoldsIntoWeightsAndBias()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(3), Dim.Of(4), Dim.Of(8)]);
        var mm = b.Op("MatMul", x, b.Init("w", [8, 6]));
        var biased = b.Op("Add", b.Init("bias", [6]), mm);
        var nchw = b.Op("Transpose", [biased], n => n.Set("perm", new long[] { 0, 3, 1, 2 }));
        var g = b.Build(b.Op("Mul", b.Init("gamma", [6, 1, 1]), nchw));

        var after = Apply(GraphPasses.FoldScaleIntoMatMul, g, out var log);

        Assert.Equal(["MatMul", "Add", "Transpose"], after.Nodes.Select(n => n.OpType));
        Assert.Contains("Mul", Assert.Single(log.Entries).Message);
        // The original weights stay (another node might share them); the MatMul reads a new, scaled copy.
        Assert.NotEqual("w", after.Nodes[0].Input(1));
        SameOutputs(g, after);
    }

    [Theory]
    [InlineData("Mul", new long[0])]        // scalar
    [InlineData("Mul", new long[] { 6 })]   // per column
    [InlineData("Mul", new long[] { 1, 6 })]
    [InlineData("Div", new long[] { 6 })]
    public void ScaleRightAfterMatMulFolds(string op, long[] scaleShape)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(5), Dim.Of(8)]);
        var mm = b.Op("MatMul", x, b.Init("w", [8, 6]));
        var scale = b.Init("s", scaleShape, 0.5f, 2f);
        var g = b.Build(b.Op(op, mm, scale));

        var after = Apply(GraphPasses.FoldScaleIntoMatMul, g);

        Assert.Equal(["MatMul"], after.Nodes.Select(n => n.OpType));
        SameOutputs(g, after);
    }

    [Fact]
    public void ScaleThatIsAGraphOutputKeepsItsName()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 4, 8);
        var mm = b.Op("MatMul", x, b.Init("w", [8, 6]));
        var g = b.Build(b.Op("Mul", mm, b.Init("s", [6])));
        string output = g.Outputs[0].Name;

        var after = Apply(GraphPasses.FoldScaleIntoMatMul, g);

        Assert.Equal(output, Assert.Single(after.Nodes).Outputs[0]);
        SameOutputs(g, after);
    }

    [Fact]
    public void ScaleAlongAnotherAxisIsLeftAlone()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 5, 8);
        var mm = b.Op("MatMul", x, b.Init("w", [8, 6]));
        var g = b.Build(b.Op("Mul", mm, b.Init("rows", [5, 1])));

        var after = Apply(GraphPasses.FoldScaleIntoMatMul, g, out var log);

        Assert.Equal(["MatMul", "Mul"], after.Nodes.Select(n => n.OpType));
        Assert.Empty(log.Entries);
    }

    [Fact]
    public void ProductReadTwiceIsLeftAlone()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 5, 8);
        var mm = b.Op("MatMul", x, b.Init("w", [8, 6]));
        var scaled = b.Op("Mul", mm, b.Init("s", [6]));
        var g = b.Build(scaled, b.Op("Relu", mm));

        var after = Apply(GraphPasses.FoldScaleIntoMatMul, g, out var log);

        Assert.Contains(after.Nodes, n => n.OpType == "Mul");
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }

    [Fact]
    public void ScaleByAComputedValueIsLeftAlone()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 5, 8);
        var s = b.Input("s", 6);
        var mm = b.Op("MatMul", x, b.Init("w", [8, 6]));
        var g = b.Build(b.Op("Mul", mm, s));

        var after = Apply(GraphPasses.FoldScaleIntoMatMul, g, out var log);

        Assert.Equal(["MatMul", "Mul"], after.Nodes.Select(n => n.OpType));
        Assert.Empty(log.Entries);
    }
}
