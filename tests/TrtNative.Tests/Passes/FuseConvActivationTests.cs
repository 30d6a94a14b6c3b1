using TrtNative.Ir;
using TrtNative.Ops;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class FuseConvActivationTests
{
    private const string Fused = "trtnative.FusedConv";

    /// <summary>A 3×3 "same" Conv from <paramref name="cin"/> to <paramref name="cout"/> channels, stride 1.</summary>
    private static string Conv(GraphBuilder b, string x, int cin, int cout, bool bias = true, string? name = null)
    {
        name ??= $"conv_{x}_{cout}";
        var inputs = new List<string> { x, b.Init($"{name}_w", [cout, cin, 3, 3]) };
        if (bias) inputs.Add(b.Init($"{name}_b", [cout]));
        var n = b.Node("Conv", inputs.ToArray(), name: name);
        n.Set("pads", new long[] { 1, 1, 1, 1 }).Set("kernel_shape", new long[] { 3, 3 });
        return n.Outputs[0];
    }

    [Fact]
    public void ConvRelu()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 6, 6);
        var g = b.Build(b.Op("Relu", Conv(b, x, 3, 5, name: "conv1")));

        var after = Apply(GraphPasses.FuseConvActivation, g, out var log);

        var f = Single(after, Fused);
        Assert.Single(after.Nodes);
        Assert.Equal(ActivationKind.Relu, Activation.FromNode(f).Kind);
        Assert.Equal(new long[] { 1, 1, 1, 1 }, f.GetInts("pads"));
        Assert.Equal(3, f.Inputs.Count);
        Assert.Equal(g.Outputs[0].Name, f.Outputs[0]);
        Assert.Contains("fused Conv 'conv1' + Relu 'relu1' -> FusedConv(relu)", Assert.Single(log.Entries).Message);
        SameOutputs(g, after);
    }

    [Fact]
    public void ResNetResidualAddThenRelu()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(4), Dim.Of(5), Dim.Of(5)]);
        var h = b.Op("Relu", Conv(b, x, 4, 4, name: "conv1"));
        var sum = b.Op("Add", Conv(b, h, 4, 4, name: "conv2"), x);
        var g = b.Build(b.Op("Relu", sum));

        var after = Apply(GraphPasses.FuseConvActivation, g);

        Assert.Equal(2, Count(after, Fused));
        Assert.Equal(2, after.Nodes.Count);
        var second = after.Nodes[1];
        Assert.Equal(4, second.Inputs.Count);
        Assert.Equal(x, second.Inputs[3]);
        Assert.Equal("relu", second.GetString("activation", ""));
        SameOutputs(g, after);
    }

    [Fact]
    public void MobileNetResidualWithoutActivationFromALaterBranch()
    {
        // The residual comes from a Conv that appears after the first one: the fused node must go where the Add was.
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 3, 4, 4);
        var c1 = Conv(b, x, 3, 6, name: "main");
        var c2 = Conv(b, x, 3, 6, bias: false, name: "shortcut");
        var g = b.Build(b.Op("Add", c1, c2));

        var after = Apply(GraphPasses.FuseConvActivation, g);

        Assert.Equal(["Conv", "FusedConv"], after.Nodes.Select(n => n.OpType));
        var f = after.Nodes[1];
        Assert.Equal(c2, f.Inputs[3]);
        Assert.Equal("none", f.GetString("activation", ""));
        SameOutputs(g, after);
    }

    [Theory]
    [InlineData(10)]   // Clip-6: min/max attributes
    [InlineData(13)]   // Clip-11+: min/max inputs
    public void ConvClipIsRelu6(int opset)
    {
        var b = new GraphBuilder(opset);
        var x = b.Input("x", 1, 2, 5, 5);
        var c = Conv(b, x, 2, 3);
        var clip = opset < 11
            ? b.Op("Clip", [c], n => n.Set("min", 0f).Set("max", 6f))
            : b.Op("Clip", c, b.Scalar("lo", 0f), b.Scalar("hi", 6f));
        var g = b.Build(clip);

        var after = Apply(GraphPasses.FuseConvActivation, g);

        var act = Activation.FromNode(Single(after, Fused));
        Assert.Equal(new Activation(ActivationKind.Clip, 0, 6), act);
        SameOutputs(g, after);
    }

    [Fact]
    public void ClipWithRuntimeBoundIsNotFused()
    {
        var b = new GraphBuilder(13);
        var x = b.Input("x", 1, 2, 5, 5);
        var hi = b.Input("hi");
        var g = b.Build(b.Op("Clip", Conv(b, x, 2, 3), "", hi));

        var after = Apply(GraphPasses.FuseConvActivation, g);

        Assert.Equal(0, Count(after, Fused));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SiluAsSigmoidTimesInput(bool sigmoidFirst)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var c = Conv(b, x, 3, 4);
        var s = b.Op("Sigmoid", c);
        var g = b.Build(sigmoidFirst ? b.Op("Mul", s, c) : b.Op("Mul", c, s));

        var after = Apply(GraphPasses.FuseConvActivation, g);

        Assert.Single(after.Nodes);
        Assert.Equal(ActivationKind.Silu, Activation.FromNode(Single(after, Fused)).Kind);
        SameOutputs(g, after);
    }

    [Theory]
    [InlineData("Sigmoid", ActivationKind.Sigmoid)]
    [InlineData("Tanh", ActivationKind.Tanh)]
    [InlineData("HardSwish", ActivationKind.HardSwish)]
    [InlineData("HardSigmoid", ActivationKind.HardSigmoid)]
    [InlineData("LeakyRelu", ActivationKind.LeakyRelu)]
    public void OtherActivations(string op, ActivationKind kind)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var g = b.Build(b.Op(op, [Conv(b, x, 3, 4)], n =>
        {
            if (op == "HardSigmoid") n.Set("alpha", 0.3f).Set("beta", 0.4f);
            if (op == "LeakyRelu") n.Set("alpha", 0.2f);
        }));

        var after = Apply(GraphPasses.FuseConvActivation, g);

        var act = Activation.FromNode(Single(after, Fused));
        Assert.Equal(kind, act.Kind);
        if (op == "HardSigmoid") Assert.Equal((0.3f, 0.4f), (act.Alpha, act.Beta));
        if (op == "LeakyRelu") Assert.Equal(0.2f, act.Alpha);
        SameOutputs(g, after);
    }

    [Theory]
    [InlineData(new long[] { 1, 4, 1, 1 })]
    [InlineData(new long[] { 4, 1, 1 })]
    [InlineData(new long[] { 1 })]
    public void PerChannelAddBecomesBias(long[] biasShape)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var k = b.Init("k", biasShape);
        var g = b.Build(b.Op("Relu", b.Op("Add", Conv(b, x, 3, 4, bias: false), k)));

        var after = Apply(GraphPasses.FuseConvActivation, g);

        var f = Single(after, Fused);
        Assert.Single(after.Nodes);
        Assert.Equal([4L], after.Initializers[f.Inputs[2]].Shape);
        SameOutputs(g, after);
    }

    [Fact]
    public void BiasAddAloneGivesStandardConvWithBias()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var g = b.Build(b.Op("Add", b.Init("k", [1, 4, 1, 1]), Conv(b, x, 3, 4, bias: true)));

        var after = Apply(GraphPasses.FuseConvActivation, g);

        var conv = Single(after, "Conv");
        Assert.Single(after.Nodes);
        Assert.Equal(3, conv.Inputs.Count);
        SameOutputs(g, after);
    }

    [Fact]
    public void NonChannelConstantIsNotABias()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var g = b.Build(b.Op("Add", Conv(b, x, 3, 4, bias: false), b.Init("k", [4, 4])));  // broadcasts over W, not C

        var after = Apply(GraphPasses.FuseConvActivation, g);

        Assert.Equal(["Conv", "Add"], after.Nodes.Select(n => n.OpType));
        SameOutputs(g, after);
    }

    [Fact]
    public void ConvOutputWithSecondReaderIsNotFused()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var c = Conv(b, x, 3, 4);
        var g = b.Build(b.Op("Relu", c), b.Op("Sigmoid", c));

        var after = Apply(GraphPasses.FuseConvActivation, g, out var log);

        Assert.Equal(0, Count(after, Fused));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }

    [Fact]
    public void ConvOutputThatIsGraphOutputIsNotFused()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var c = Conv(b, x, 3, 4);
        var g = b.Build(b.Op("Relu", c), c);

        var after = Apply(GraphPasses.FuseConvActivation, g);

        Assert.Equal(0, Count(after, Fused));
        SameOutputs(g, after);
    }

    [Fact]
    public void ResidualSumThatIsGraphOutputStopsTheFusionBeforeTheActivation()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 4, 4);
        var sum = b.Op("Add", Conv(b, x, 4, 4), x);
        var g = b.Build(b.Op("Relu", sum), sum);

        var after = Apply(GraphPasses.FuseConvActivation, g);

        Assert.Equal(["FusedConv", "Relu"], after.Nodes.Select(n => n.OpType));
        Assert.Equal("none", after.Nodes[0].GetString("activation", ""));
        Assert.Equal(sum, after.Nodes[0].Outputs[0]);
        SameOutputs(g, after);
    }

    [Fact]
    public void BroadcastingAddIsNotAResidual()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var r = b.Input("r", 1, 4, 1, 4);   // runtime, broadcasts
        var g = b.Build(b.Op("Relu", b.Op("Add", Conv(b, x, 3, 4), r)));

        var after = Apply(GraphPasses.FuseConvActivation, g);

        Assert.Equal(["Conv", "Add", "Relu"], after.Nodes.Select(n => n.OpType));
        SameOutputs(g, after);
    }

    [Fact]
    public void SigmoidWithExtraReaderIsNotSilu()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var c = Conv(b, x, 3, 4);
        var s = b.Op("Sigmoid", c);
        var g = b.Build(b.Op("Mul", c, s), s);

        var after = Apply(GraphPasses.FuseConvActivation, g);

        Assert.Equal(0, Count(after, Fused));
        SameOutputs(g, after);
    }
}
