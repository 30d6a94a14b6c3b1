using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class FoldBatchNormIntoConvTests
{
    /// <summary>BatchNormalization over <paramref name="c"/> channels with random parameters (positive variance).</summary>
    private static string BatchNorm(GraphBuilder b, string x, int c, string name = "bn")
    {
        var n = b.Node("BatchNormalization",
            [x, b.Init($"{name}_scale", [c], 0.5f, 2f), b.Init($"{name}_b", [c]), b.Init($"{name}_mean", [c]), b.Init($"{name}_var", [c], 0.1f, 3f)],
            name: name);
        n.Set("epsilon", 1e-3f);
        return n.Outputs[0];
    }

    private static string Conv(GraphBuilder b, string x, int cin, int cout, bool bias, int group = 1, string name = "conv")
    {
        var inputs = new List<string> { x, b.Init($"{name}_w", [cout, cin / group, 3, 3]) };
        if (bias) inputs.Add(b.Init($"{name}_b", [cout]));
        var n = b.Node("Conv", inputs.ToArray(), name: name);
        n.Set("pads", new long[] { 1, 1, 1, 1 }).Set("group", (long)group);
        return n.Outputs[0];
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 1)]
    [InlineData(true, 4)]   // depthwise
    public void ConvFollowedByBatchNormIsFolded(bool bias, int group)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 7, 7);
        var y = BatchNorm(b, Conv(b, x, 4, group == 1 ? 6 : 4, bias, group), group == 1 ? 6 : 4);
        var g = b.Build(b.Op("Relu", y));

        var after = Apply(GraphPasses.FoldBatchNormIntoConv, g, out var log);

        Assert.Equal(["Conv", "Relu"], after.Nodes.Select(n => n.OpType));
        var conv = after.Nodes[0];
        Assert.Equal(3, conv.Inputs.Count);
        Assert.Equal(y, conv.Outputs[0]);
        Assert.Equal(group, conv.GetInt("group", 1));
        Assert.Contains("'bn'", Assert.Single(log.Entries).Message);
        SameOutputs(g, after);
    }

    [Fact]
    public void ConvOutputWithAnotherReaderIsNotFolded()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 5, 5);
        var c = Conv(b, x, 3, 4, true);
        var g = b.Build(BatchNorm(b, c, 4), b.Op("Relu", c));

        var after = Apply(GraphPasses.FoldBatchNormIntoConv, g, out var log);

        Assert.Equal(1, Count(after, "BatchNormalization"));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }

    [Fact]
    public void ConvOutputThatIsGraphOutputIsNotFolded()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 5, 5);
        var c = Conv(b, x, 3, 4, false);
        var g = b.Build(BatchNorm(b, c, 4), c);

        var after = Apply(GraphPasses.FoldBatchNormIntoConv, g);

        Assert.Equal(1, Count(after, "BatchNormalization"));
        SameOutputs(g, after);
    }

    [Fact]
    public void BatchNormNotAfterConvIsLeftAlone()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 3, 4, 4);
        var g = b.Build(BatchNorm(b, b.Op("Relu", x), 3));

        var after = Apply(GraphPasses.FoldBatchNormIntoConv, g, out var log);

        Assert.Equal(["Relu", "BatchNormalization"], after.Nodes.Select(n => n.OpType));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }

    /// <summary>
    /// Training-mode BatchNormalization normalizes with the batch's own statistics, not the constant input_mean and
    /// input_var, so folding those into the Conv would change Y — even when only Y is read.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TrainingModeBatchNormIsNotFolded(bool runningOutputs)
    {
        var b = new GraphBuilder(15);
        var x = b.Input("x", 2, 3, 5, 5);
        var c = Conv(b, x, 3, 4, true);
        var bn = b.Node("BatchNormalization", [c, b.Init("s", [4], 0.5f, 2f), b.Init("bb", [4]), b.Init("m", [4]), b.Init("v", [4], 0.1f, 3f)],
            runningOutputs ? ["y", "rm", "rv"] : ["y"], name: "bn");
        bn.Set("training_mode", 1L);
        var g = runningOutputs ? b.Build("y", "rm", "rv") : b.Build("y");

        var after = Apply(GraphPasses.FoldBatchNormIntoConv, g, out var log);

        Assert.Equal(["Conv", "BatchNormalization"], after.Nodes.Select(n => n.OpType));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }

    [Fact]
    public void ConvWithRuntimeWeightsIsNotFolded()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 5, 5);
        var w = b.Input("w", 4, 3, 3, 3);
        var c = b.Op("Conv", x, w);
        var g = b.Build(BatchNorm(b, c, 4));

        var after = Apply(GraphPasses.FoldBatchNormIntoConv, g);

        Assert.Equal(1, Count(after, "BatchNormalization"));
    }
}
