using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class RemoveIdentitiesTests
{
    [Theory]
    [InlineData(17)]   // ratio is an input
    [InlineData(10)]   // ratio is an attribute
    public void IdentityAndInferenceDropoutAreRemoved(int opset)
    {
        var b = new GraphBuilder(opset);
        var x = b.Input("x", 2, 5);
        var r = b.Op("Relu", x);
        var i = b.Op("Identity", r);
        var d = opset >= 12 ? b.Node("Dropout", [i, b.Scalar("ratio", 0.5f)]).Outputs[0] : b.Op("Dropout", [i], n => n.Set("ratio", 0.5f));
        var g = b.Build(b.Op("Sigmoid", b.Op("Add", d, i)));

        var after = Apply(GraphPasses.RemoveIdentities, g, out var log);

        Assert.Equal(["Relu", "Add", "Sigmoid"], after.Nodes.Select(n => n.OpType));
        Assert.Equal([r, r], after.Nodes[1].Inputs);
        Assert.Equal(2, log.Entries.Count);
        SameOutputs(g, after);
    }

    [Fact]
    public void IdentityWritingGraphOutputRenamesItsProducer()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 32);
        var r = b.Op("Relu", x);
        var s = b.Op("Sigmoid", r);          // another reader of r
        b.Node("Identity", [r], ["y"]);
        var g = b.Build("y", s);

        var after = Apply(GraphPasses.RemoveIdentities, g);

        Assert.Equal(0, Count(after, "Identity"));
        Assert.Equal(["y"], Single(after, "Relu").Outputs);
        Assert.Equal(["y"], Single(after, "Sigmoid").Inputs);
        Assert.Equal(["y", s], after.Outputs.Select(o => o.Name));
        SameOutputs(g, after);
    }

    [Fact]
    public void IdentityOfConstantToGraphOutputBecomesInitializer()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 3);
        var k = b.Init("k", [3]);
        b.Node("Identity", [k], ["y"]);
        var g = b.Build("y", b.Op("Add", x, k));

        var after = Apply(GraphPasses.RemoveIdentities, g);

        Assert.Equal(["Add"], after.Nodes.Select(n => n.OpType));
        Assert.Same(g.Initializers["k"], after.Initializers["y"]);
        SameOutputs(g, after);
    }

    [Fact]
    public void IdentityFromGraphInputToGraphOutputIsKept()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 3);
        b.Node("Identity", [x], ["y"]);
        var g = b.Build("y");

        var after = Apply(GraphPasses.RemoveIdentities, g, out var log);

        Assert.Equal(1, Count(after, "Identity"));
        Assert.Contains("kept", Assert.Single(log.Entries).Message);
        SameOutputs(g, after);
    }

    [Fact]
    public void DropoutWithUsedMaskOrTrainingModeIsKept()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 4);
        var withMask = b.Node("Dropout", [x], ["d1", "mask"]);
        var training = b.Node("Dropout", [x, b.Scalar("ratio", 0.5f), b.Init("on", Tensor.FromInts([1], [], DataType.Bool))]);
        var g = b.Build(withMask.Outputs[0], "mask", training.Outputs[0]);

        var after = GraphPasses.RemoveIdentities(g, new PassLog());

        Assert.Equal(2, Count(after, "Dropout"));
    }
}
