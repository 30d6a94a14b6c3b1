using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class FoldConstantsTests
{
    [Fact]
    public void ConstantNodesAndConstantSubgraphsBecomeInitializers()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 8);
        var c = b.Node("Constant", [], ["c"], "const1");
        c.Set("value", AttributeValue.Of(Tensor.FromFloats(Enumerable.Range(0, 8).Select(i => i * 0.25f).ToArray(), [8])));
        var k = b.Init("k", [8]);
        var sum = b.Op("Add", c.Outputs[0], k);          // constant: folds
        var scaled = b.Op("Mul", sum, b.Scalar("two", 2f)); // constant: folds
        var y = b.Op("Mul", x, scaled);                  // depends on x: stays
        var g = b.Build(b.Op("Relu", y));

        var after = Apply(GraphPasses.FoldConstants, g, out var log);

        Assert.Equal(["Mul", "Relu"], after.Nodes.Select(n => n.OpType));
        Assert.True(after.Initializers.ContainsKey("c"));
        Assert.True(after.Initializers.ContainsKey(scaled));
        Assert.Equal(2 * (0.75f + g.Initializers["k"].Floats![3]), after.Initializers[scaled].Floats![3], 5);
        Assert.Contains(log.Entries, e => e.Message.Contains("'const1'"));
        Assert.Contains(log.Entries, e => e.Message.Contains("'add1'"));
        SameOutputs(g, after);
    }

    [Fact]
    public void SymbolicShapeChainBecomesSymbolicInitializer()
    {
        var b = new GraphBuilder(13);
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(4), Dim.Of(3)]);
        var shape = b.Op("Shape", x);
        var n = b.Op("Gather", shape, b.Init("zero", Tensor.FromInts([0], [])));
        var nu = b.Op("Unsqueeze", n, b.Ints("axes0", 0));
        var target = b.Op("Concat", [nu, b.Ints("minus1", -1)], node => node.Set("axis", 0L));
        var g = b.Build(b.Op("Reshape", x, target));

        var after = Apply(GraphPasses.FoldConstants, g);

        var reshape = Single(after, "Reshape");
        Assert.Single(after.Nodes);
        var t = after.Initializers[reshape.Input(1)];
        Assert.True(t.IsSymbolic);
        Assert.Equal([Dim.Sym("batch"), Dim.Of(-1)], t.SymbolicInts!);
        SameOutputs(g, after);
    }

    [Fact]
    public void FoldedGraphOutputKeepsItsName()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 3);
        var k = b.Op("Neg", b.Init("k", [3]));
        var g = b.Build(b.Op("Add", x, k), k);

        var after = Apply(GraphPasses.FoldConstants, g);

        Assert.Equal(["Add"], after.Nodes.Select(n => n.OpType));
        Assert.Equal(g.Outputs.Select(o => o.Name), after.Outputs.Select(o => o.Name));
        Assert.True(after.Initializers.ContainsKey(k));
        SameOutputs(g, after);
    }

    [Fact]
    public void SymbolicShapeAsGraphOutputBecomesSymbolicInitializer()
    {
        var b = new GraphBuilder(13);
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(5)]);
        var shape = b.Op("Shape", x);
        // Sigmoid, not Relu: a batch of one row of five negatives would make a Relu output all zeros.
        var g = b.Build(b.Op("Sigmoid", x), shape);

        var after = Apply(GraphPasses.FoldConstants, g);

        Assert.Equal(["Sigmoid"], after.Nodes.Select(n => n.OpType));
        Assert.Equal([Dim.Sym("batch"), Dim.Of(5)], after.Initializers[shape].SymbolicInts!);
        SameOutputs(g, after);   // the integer output is compared exactly, at a random batch
    }

    [Fact]
    public void NothingToFoldLeavesNodes()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 64);
        var g = b.Build(b.Op("Relu", b.Op("Add", x, b.Init("k", [64]))));

        var after = Apply(GraphPasses.FoldConstants, g, out var log);

        Assert.Equal(["Add", "Relu"], after.Nodes.Select(n => n.OpType));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }
}
