using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class RemoveDeadNodesTests
{
    [Fact]
    public void UnreachableNodesAndUnusedInitializersAreRemoved()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 4, 16);
        var live = b.Op("Add", x, b.Init("k", [16]));
        b.Op("Sigmoid", b.Op("Mul", x, b.Init("unused_by_live", [16])));   // dead chain
        b.Init("orphan", [3]);
        var g = b.Build(b.Op("Relu", live));

        var after = Apply(GraphPasses.RemoveDeadNodes, g, out var log);

        Assert.Equal(["Add", "Relu"], after.Nodes.Select(n => n.OpType));
        Assert.Equal(["k"], after.Initializers.Keys);
        Assert.Equal(4, log.Entries.Count);
        Assert.Equal(g.Inputs, after.Inputs);
        SameOutputs(g, after);
    }

    [Fact]
    public void NodeWithOneUsedOutputIsKept()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 4, 16);
        b.Node("Dropout", [x], ["kept", "mask"]);   // mask output unused, first output used
        var g = b.Build(b.Op("Relu", "kept"));

        var after = Apply(GraphPasses.RemoveDeadNodes, g, out var log);

        Assert.Equal(["Dropout", "Relu"], after.Nodes.Select(n => n.OpType));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }

    [Fact]
    public void GraphOutputThatIsAnInitializerIsKept()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 3);
        var k = b.Init("k", [3]);
        var g = b.Build(b.Op("Neg", x), k);

        var after = Apply(GraphPasses.RemoveDeadNodes, g);

        Assert.True(after.Initializers.ContainsKey("k"));
        SameOutputs(g, after);
    }
}
