using TrtNative.Compiler;
using TrtNative.Ir;
using TrtNative.Passes;
using TrtNative.Runtime;
using TrtNative.Tests.Compiler;
using TrtNative.Tests.Models;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Runtime;

/// <summary>
/// Automatic mixed precision's comparison and choice on synthetic per-node numbers, and its whole search on the CPU
/// with the program interpreter standing in for the GPU engines.
/// </summary>
public class PrecisionProtectionTests(ITestOutputHelper output)
{
    private static readonly PrecisionBudget Budget = PrecisionBudget.Fp16;

    /// <summary>input → a → b → c → d (output), one value per node named after it.</summary>
    private static Graph Chain()
    {
        var g = new Graph { Name = "chain" };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, Shapes.Of(4)));
        string prev = "x";
        foreach (var n in new[] { "a", "b", "c", "d" })
        {
            g.Nodes.Add(new Node("Relu", [prev], [n], n));
            prev = n;
        }
        g.Outputs.Add(new ValueInfo("d", DataType.Float, null));
        return g;
    }

    private static Dictionary<string, ValueDrift> Drift(params (string Value, double RelL2, long NonFinite, double Max)[] v) =>
        v.ToDictionary(x => x.Value, x => new ValueDrift(x.Value, x.RelL2, x.NonFinite, 0, x.Max));

    private static readonly HashSet<string> None = new();

    [Fact]
    public void AValueBeyondTheRangeKeepsItsProducerAndItsReaders()
    {
        var d = Drift(("a", 1e-3, 0, 5), ("b", 1e-3, 0, 4e4), ("c", 1e-3, 0, 4), ("d", 1e-3, 0, 4));
        var chosen = PrecisionProtection.Choose(Chain(), d, None, Budget, outputsOverBudget: false);
        Assert.Equal(["b", "c"], chosen.Keys.Order());
        Assert.Contains("4.00E+004", chosen["b"]);
        Assert.Contains("reads 'b'", chosen["c"]);
        // Already kept: nothing new.
        Assert.Empty(PrecisionProtection.Choose(Chain(), d, new HashSet<string> { "b", "c" }, Budget, outputsOverBudget: true));
        // Just inside the range: nothing.
        var inside = Drift(("a", 1e-3, 0, 5), ("b", 1e-3, 0, Budget.RangeLimit), ("c", 1e-3, 0, 4), ("d", 1e-3, 0, 4));
        Assert.Empty(PrecisionProtection.Choose(Chain(), inside, None, Budget, outputsOverBudget: false));
    }

    [Fact]
    public void NonFiniteValuesKeepOnlyTheNodeWhereTheyStart()
    {
        var d = Drift(("a", 1e-3, 0, 5), ("b", 0, 12, 30), ("c", 0, 12, 3), ("d", 0, 40, 3));
        var chosen = PrecisionProtection.Choose(Chain(), d, None, Budget, outputsOverBudget: true);
        Assert.Equal(["b"], chosen.Keys);
        Assert.Contains("12 NaN/inf", chosen["b"]);
    }

    [Fact]
    public void AnOverflowIsFoundInAValueWhoseFp32AlsoHoldsInfinities()
    {
        // A masked score: fp32 is -inf where the mask is, and the reduced type overflows at another element of the same
        // value. NonFinite counts only elements where fp32 is finite, so that one is the reduced type's fault.
        float[] a = [1, 2, 3, 4];
        float[] fp32 = [float.NegativeInfinity, 2, 3e4f, 4];
        float[] overflowed = [float.NegativeInfinity, 2, float.PositiveInfinity, 4];
        var d = new Dictionary<string, ValueDrift>
        {
            ["a"] = ValueDrift.Of("a", [(a, a)]),
            ["b"] = ValueDrift.Of("b", [(overflowed, fp32)]),
            ["c"] = ValueDrift.Of("c", [(overflowed, fp32)]),
            ["d"] = ValueDrift.Of("d", [(overflowed, fp32)]),
        };
        var chosen = PrecisionProtection.Choose(Chain(), d, None, Budget, outputsOverBudget: true);
        Assert.Equal(["b"], chosen.Keys);
        Assert.Contains("1 NaN/inf", chosen["b"]);
        // Non-finite only where fp32 is too: not the reduced type's fault, nothing to keep.
        var same = new Dictionary<string, ValueDrift>(d) { ["b"] = ValueDrift.Of("b", [(fp32, fp32)]) };
        Assert.DoesNotContain("b", PrecisionProtection.Choose(Chain(), same, None, Budget, outputsOverBudget: false).Keys);
    }

    [Fact]
    public void DriftIsLookedAtOnlyWhenTheOutputsAreOverBudget()
    {
        var d = Drift(("a", 1e-3, 0, 5), ("b", 2e-3, 0, 5), ("c", 5e-2, 0, 5), ("d", 6e-2, 0, 5));
        Assert.Empty(PrecisionProtection.Choose(Chain(), d, None, Budget, outputsOverBudget: false));
        var chosen = PrecisionProtection.Choose(Chain(), d, None, Budget, outputsOverBudget: true);
        Assert.Equal(["c"], chosen.Keys); // d's input already drifts: c is where it starts
        Assert.Contains("5.00E-002", chosen["c"]);
    }

    [Fact]
    public void GradualDriftKeepsTheOneNodeWhoseDriftGrowsMost()
    {
        // Every node is over the layer budget and so is each input: no single origin.
        var d = Drift(("a", 2e-2, 0, 5), ("b", 3e-2, 0, 5), ("c", 9e-2, 0, 5), ("d", 1e-1, 0, 5));
        var chosen = PrecisionProtection.Choose(Chain(), d, new HashSet<string> { "a" }, Budget, outputsOverBudget: true);
        Assert.Equal(["c"], chosen.Keys);
    }

    [Fact]
    public void ValueDriftSeparatesNonFiniteValuesFromTheError()
    {
        float[] reference = [1, -2, 3, 4, float.NaN];
        float[] reduced = [1, -2, float.PositiveInfinity, 4.5f, 7];
        var d = ValueDrift.Of("v", [(reduced, reference), (reference, reference)]);
        Assert.Equal(1, d.NonFinite);
        Assert.Equal(2, d.ReferenceNonFinite);
        Assert.Equal(4, d.ReferenceMaxAbs);
        // Finite pairs only: one difference of 0.5; |reference|^2 is 1 + 4 + 16 in the first run (the inf's 3 and the
        // NaN left out) and 1 + 4 + 9 + 16 in the second.
        Assert.Equal(Math.Sqrt(0.25 / (21 + 30)), d.RelL2, 12);
        Assert.Equal(0, ValueDrift.Of("same", [(reference, reference)]).RelL2);
        Assert.Throws<ArgumentException>(() => ValueDrift.Of("bad", [(reduced, [1f])]));
    }

    [Fact]
    public void ByNodeListsEveryObservedOutputInGraphOrderAndMarksWhereItDiverges()
    {
        var d = Drift(("d", 2e-2, 0, 5), ("b", 3e-3, 0, 5), ("a", 1e-3, 0, 5), ("c", 0, 7, 5));
        var nodes = PrecisionProtection.ByNode(Chain(), d, new HashSet<string> { "b" }, Budget);
        Assert.Equal(["a", "b", "c", "d"], nodes.Select(n => n.Node));
        Assert.Equal([false, false, true, true], nodes.Select(n => n.Diverges));
        Assert.Equal([false, true, false, false], nodes.Select(n => n.KeptInFp32));
        Assert.Equal("c (Relu) -> c: rel L2 0.00E+000, 7 NaN/inf, fp32 max |x| 5.00E+000", nodes[2].ToString());
        Assert.Contains("kept in fp32", nodes[1].ToString());
        // A value the runs did not observe is left out.
        Assert.Equal(3, PrecisionProtection.ByNode(Chain(), Drift(("a", 0, 0, 1), ("b", 0, 0, 1), ("d", 0, 0, 1)), None, Budget).Count);
    }

    [Fact]
    public void OutputsAreWithinBudgetWhenFiniteAndCloseEnough()
    {
        Assert.True(PrecisionProtection.OutputsWithinBudget([new ValueDrift("o", 9e-3, 0, 0, 1)], Budget));
        Assert.False(PrecisionProtection.OutputsWithinBudget([new ValueDrift("o", 2e-2, 0, 0, 1)], Budget));
        Assert.False(PrecisionProtection.OutputsWithinBudget([new ValueDrift("o", 0, 1, 0, 1)], Budget));
    }

    /// <summary>The search with the program interpreter as the engine: observed programs, N(0,1) calibration inputs.</summary>
    private ProtectionResult SearchOnCpu(Graph optimized, Dictionary<string, long> bindings, int runs, int seed)
    {
        var inputs = Enumerable.Range(0, runs).Select(i => RandomTensors.ForInputs(optimized, bindings, seed + i)).ToList();
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>> Run(LoweringOptions o)
        {
            var program = GpuLowering.Lower(optimized, o with { Observe = true });
            return inputs.Select(x => (IReadOnlyDictionary<string, Tensor>)new ProgramInterpreter(program).Run(x)).ToList();
        }
        var reference = Run(new LoweringOptions { Fp16 = false });
        return PrecisionProtection.Search(optimized, Budget, reference, keep => Run(new LoweringOptions { Fp16 = true, KeepFp32 = keep }), output.WriteLine);
    }

    [Fact]
    public void SearchKeepsTheOverflowingConvAndItsReaderThenMeetsTheBudget()
    {
        int seed = RandomTensors.FreshSeed();
        var g = Optimizer.Optimize(OverflowNet.Build(seed));
        var result = SearchOnCpu(g, new Dictionary<string, long> { ["batch"] = 2 }, runs: 2, seed);
        Assert.Equal([OverflowNet.BigConv, OverflowNet.ScaleDown], result.KeepFp32.Keys.Order());
        Assert.True(result.WithinBudget, $"seed {seed}: {string.Join("; ", result.Outputs)}");
        Assert.Equal(2, result.Rounds);
        Assert.All(result.Outputs, o => Assert.Equal(0, o.NonFinite));

        // The program built with the result is finite and within budget on inputs the calibration did not see.
        var program = MixedPrecisionLoweringTests.Lower(g, fp16: true, result.KeepFp32.Keys.ToArray());
        var x = new Dictionary<string, Tensor> { [OverflowNet.Input] = RandomTensors.Normal([8, 3, 16, 16], seed + 100) };
        var want = new ProgramInterpreter(MixedPrecisionLoweringTests.Lower(g, fp16: false)).Run(x)[OverflowNet.Output];
        RelativeL2.AssertWithin(new ProgramInterpreter(program).Run(x)[OverflowNet.Output], want, 1e-2, $"seed {seed}");
    }

    [Fact]
    public void SearchKeepsNothingWhereFp16IsFine()
    {
        int seed = RandomTensors.FreshSeed();
        var g = Optimizer.Optimize(Passes.FuseAttentionTests.TorchMultiheadAttention(new Passes.GraphBuilder(), Dim.Sym("batch")));
        var result = SearchOnCpu(g, new Dictionary<string, long> { ["batch"] = 3 }, runs: 2, seed);
        Assert.Empty(result.KeepFp32);
        Assert.True(result.WithinBudget, $"seed {seed}: {string.Join("; ", result.Outputs)}");
        Assert.Equal(1, result.Rounds);
    }

    [Fact]
    public void RandomCalibrationIsTwoFixedStandardNormalRunsAtTheOptShapesWithTheBatchCapped()
    {
        var profile = new Dictionary<string, InputShapeRange> { ["x"] = new([1, 3, 8, 8], [4, 3, 8, 8], [16, 3, 8, 8]) };
        var a = Builder.RandomCalibration(profile);
        var b = Builder.RandomCalibration(profile);
        Assert.Equal(2, a.Count);
        Assert.All(a, run => Assert.Equal([4L, 3, 8, 8], run["x"].Shape));
        // The batch is capped at 8 where the profile allows, and stays within it where it does not.
        var big = new Dictionary<string, InputShapeRange> { ["x"] = new([1, 3, 8, 8], [64, 3, 8, 8], [64, 3, 8, 8]), ["y"] = new([16, 2], [32, 2], [32, 2]) };
        Assert.Equal([8L, 3, 8, 8], Builder.RandomCalibration(big)[0]["x"].Shape);
        Assert.Equal([16L, 2], Builder.RandomCalibration(big)[0]["y"].Shape);
        Assert.Equal(a[1]["x"].Floats, b[1]["x"].Floats); // a build is reproducible
        Assert.NotEqual(a[0]["x"].Floats, a[1]["x"].Floats);
        var v = a.SelectMany(r => r["x"].Floats!).ToArray();
        double mean = v.Average(), std = Math.Sqrt(v.Average(x => (x - mean) * (x - mean)));
        Assert.InRange(mean, -0.15, 0.15);
        Assert.InRange(std, 0.85, 1.15);
    }

    [Fact]
    public void CalibrationSettingsSpanTheGivenShapesAndNameWhatIsWrong()
    {
        var g = Optimizer.Optimize(OverflowNet.Build(3));
        var settings = new BuildSettings(Precision.Fp16, 1 << 20, true);
        Tensor X(long batch) => RandomTensors.Normal([batch, 3, 16, 16], 1);
        var s = Builder.CalibrationSettings(g, settings, [new Dictionary<string, Tensor> { ["input"] = X(2) }, new Dictionary<string, Tensor> { ["input"] = X(5) }]);
        Assert.Equal([2L, 3, 16, 16], s.Profile["input"].Min);
        Assert.Equal([5L, 3, 16, 16], s.Profile["input"].Max);
        Assert.False(s.Autotune);
        Assert.False(s.PrecisionProtection);

        TrtNativeException Bad(params IReadOnlyDictionary<string, Tensor>[] sets) =>
            Assert.Throws<TrtNativeException>(() => Builder.CalibrationSettings(g, settings, sets));
        Assert.Contains("'image', which is not an input", Bad(new Dictionary<string, Tensor> { ["image"] = X(1), ["input"] = X(1) }).Message);
        Assert.Contains("set 1 has no tensor for input 'input'", Bad(new Dictionary<string, Tensor> { ["input"] = X(1) }, new Dictionary<string, Tensor>()).Message);
        Assert.Contains("float tensor", Bad(new Dictionary<string, Tensor> { ["input"] = Tensor.FromInts([1], [1]) }).Message);
        Assert.Contains("at least one", Bad().Message);
    }
}
