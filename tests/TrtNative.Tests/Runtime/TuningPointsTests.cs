using TrtNative.Compiler;
using TrtNative.Ir;
using TrtNative.Passes;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.Tests.Runtime;

/// <summary>The shapes a build times tactics at, and what the shim is told per layer (no GPU needed).</summary>
public class TuningPointsTests
{
    private static readonly InputShapeRange Batch1To128 = new([1, 3, 8, 8], [32, 3, 8, 8], [128, 3, 8, 8]);

    [Fact]
    public void OptComesFirstThenMinAndMaxOnlyFromLevelFour()
    {
        var profile = new Dictionary<string, InputShapeRange> { ["x"] = Batch1To128 };
        var level3 = TuningPoints.Of(profile, 3);
        Assert.Equal([[32L, 3, 8, 8], [1L, 3, 8, 8]], level3.Select(p => p["x"]));
        var level4 = TuningPoints.Of(profile, TuningPoints.MaxShapesFromLevel);
        Assert.Equal([[32L, 3, 8, 8], [1L, 3, 8, 8], [128L, 3, 8, 8]], level4.Select(p => p["x"]));
    }

    [Fact]
    public void AShapeEqualToAnEarlierPointIsNotTimedTwice()
    {
        var fixedShape = new Dictionary<string, InputShapeRange> { ["x"] = new([4, 3, 8, 8], [4, 3, 8, 8], [4, 3, 8, 8]) };
        Assert.Single(TuningPoints.Of(fixedShape, 5));
        var minIsOpt = new Dictionary<string, InputShapeRange> { ["x"] = new([1, 3, 8, 8], [1, 3, 8, 8], [8, 3, 8, 8]) };
        Assert.Equal([[1L, 3, 8, 8], [8L, 3, 8, 8]], TuningPoints.Of(minIsOpt, 5).Select(p => p["x"]));
    }

    [Fact]
    public void AKeySeenAtAnEarlierPointKeepsItsTacticAndIsNotCachedAgain()
    {
        var chosenFor = new Dictionary<string, int>(StringComparer.Ordinal);
        // Opt point: layers 0 and 2 tunable (layer 1 not: no key).
        int[] opt = [5, -1, 9];
        Assert.Equal([0, 2], TuningPoints.KeepEarlierChoices(["conv@32", null, "gemm@32"], opt, chosenFor));
        Assert.Equal([5, -1, 9], opt);
        // Min point: the conv's shapes changed, the GEMM's did not (its key repeats): it keeps the opt point's tactic,
        // whatever its second timing chose, and only the conv's new key is to be cached.
        int[] min = [6, -1, 4];
        Assert.Equal([0], TuningPoints.KeepEarlierChoices(["conv@1", null, "gemm@32"], min, chosenFor));
        Assert.Equal([6, -1, 9], min);
        Assert.Equal(new Dictionary<string, int> { ["conv@32"] = 5, ["gemm@32"] = 9, ["conv@1"] = 6 }, chosenFor);
    }

    [Fact]
    public void ShapeTacticsGiveEachPointsOutputSizeWithItsTactic()
    {
        var g = new Graph { Name = "t" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [Dim.Sym("batch"), Dim.Of(4), Dim.Of(8), Dim.Of(8)]));
        g.Initializers["w"] = Tensor.FromFloats(new float[6 * 4 * 9], [6, 4, 3, 3]);
        g.Nodes.Add(new Node("Conv", ["x", "w"], ["y"], "conv").Set("pads", new long[] { 1, 1, 1, 1 }));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        var program = GpuLowering.Lower(Optimizer.Optimize(g), fp16: true);
        var conv = program.Layers.Single(l => l.Tunable);
        IReadOnlyList<IReadOnlyDictionary<string, long>> bindings = [new Dictionary<string, long> { ["batch"] = 32 }, new Dictionary<string, long> { ["batch"] = 1 }];
        Assert.Equal([new ShapeTactic(32 * 8 * 8 * 6, 7), new ShapeTactic(8 * 8 * 6, 1000)], TuningPoints.ShapeTactics(program, conv, bindings, [7, 1000]));
        // One point, or one tactic at every point: the layer's tactic alone says it all.
        Assert.Empty(TuningPoints.ShapeTactics(program, conv, bindings.Take(1).ToList(), [7]));
        Assert.Empty(TuningPoints.ShapeTactics(program, conv, bindings, [7, 7]));
        var e = Assert.Throws<TrtNativeException>(() => TuningPoints.ShapeTactics(program, conv, bindings, [7]));
        Assert.Contains("1 tactics for 2 tuning points", e.Message);
    }
}
