using TrtNative.Cuda;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Reference;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.GpuTests;

/// <summary>Engine build, run, plan round trip and error behaviour on small graphs, compared with the reference executor.</summary>
public class EngineGpuTests
{
    private readonly ITestOutputHelper _out;

    public EngineGpuTests(ITestOutputHelper output) => _out = output;

    internal static void RequireEngine()
    {
        Gpu.Require();
        Assert.True(NativeLibraryLoader.IsAvailable(out string reason), "libtrtnative must load on a GPU host: " + reason);
    }

    internal static float[] Rand(Random r, long n, float scale = 1f)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>input[batch,3,16,16] → Conv 3x3 + Relu → MaxPool 2 → Conv 1x1 + residual-free Sigmoid·x → GlobalAveragePool → Flatten → Gemm → Softmax.</summary>
    internal static Graph SmallNet(int seed)
    {
        var r = new Random(seed);
        var g = new Graph { Name = "small" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo("input", DataType.Float, [Dim.Sym("batch"), Dim.Of(3), Dim.Of(16), Dim.Of(16)]));
        g.Initializers["w1"] = Tensor.FromFloats(Rand(r, 8 * 3 * 3 * 3, 0.5f), [8, 3, 3, 3]);
        g.Initializers["b1"] = Tensor.FromFloats(Rand(r, 8), [8]);
        g.Initializers["w2"] = Tensor.FromFloats(Rand(r, 8 * 8, 0.5f), [8, 8, 1, 1]);
        g.Initializers["wf"] = Tensor.FromFloats(Rand(r, 10 * 8), [10, 8]);
        g.Initializers["bf"] = Tensor.FromFloats(Rand(r, 10), [10]);
        g.Nodes.Add(new Node("Conv", ["input", "w1", "b1"], ["c1"], "conv1").Set("pads", new long[] { 1, 1, 1, 1 }).Set("kernel_shape", new long[] { 3, 3 }));
        g.Nodes.Add(new Node("Relu", ["c1"], ["r1"], "relu1"));
        g.Nodes.Add(new Node("MaxPool", ["r1"], ["p1"], "pool1").Set("kernel_shape", new long[] { 2, 2 }).Set("strides", new long[] { 2, 2 }));
        g.Nodes.Add(new Node("Conv", ["p1", "w2"], ["c2"], "conv2"));
        g.Nodes.Add(new Node("Sigmoid", ["c2"], ["s2"], "sig2"));
        g.Nodes.Add(new Node("Mul", ["s2", "p1"], ["m2"], "gate"));
        g.Nodes.Add(new Node("GlobalAveragePool", ["m2"], ["gap"], "gap"));
        g.Nodes.Add(new Node("Flatten", ["gap"], ["flat"], "flatten"));
        g.Nodes.Add(new Node("Gemm", ["flat", "wf", "bf"], ["fc"], "fc").Set("transB", 1L));
        g.Nodes.Add(new Node("Softmax", ["fc"], ["probs"], "softmax").Set("axis", 1L));
        g.Outputs.Add(new ValueInfo("probs", DataType.Float, null));
        return g;
    }

    internal static BuilderConfig Config(Precision precision, string input, long[] min, long[] opt, long[] max)
    {
        var c = new BuilderConfig { Precision = precision, MaxWorkspaceSize = 64L << 20 };
        c.OptimizationProfiles.Add(new OptimizationProfile().Set(input, min, opt, max));
        return c;
    }

    internal static double RelL2(float[] a, float[] b)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { double d = a[i] - b[i]; num += d * d; den += (double)b[i] * b[i]; }
        return Math.Sqrt(num / Math.Max(den, 1e-30));
    }

    [Fact]
    public void LibraryReportsCudaDeviceAndVersions()
    {
        RequireEngine();
        Assert.True(NativeLibraryLoader.HasCuda, "libtrtnative was built without CUDA");
        var info = GpuInfo.Query();
        _out.WriteLine(info.ToString());
        Assert.False(string.IsNullOrWhiteSpace(info.Name));
        Assert.True(info.CudnnVersion >= 90000, $"cuDNN {info.CudnnVersion}");
        Assert.True(info.CublasLtVersion > 0);
        Assert.Null(NativeLibraryLoader.CheckStructSizes());
    }

    [Theory]
    [InlineData(Precision.Fp32, 1e-5)]
    [InlineData(Precision.Fp16, 1e-2)]
    [InlineData(Precision.Bf16, 2e-2)]
    public void SmallNetMatchesReferenceAtSeveralBatchSizes(Precision precision, double tol)
    {
        RequireEngine();
        int seed = Random.Shared.Next();
        var g = SmallNet(seed);
        using var ctx = CudaContext.Create();
        using var engine = new Builder(ctx).Build(g, Config(precision, "input", [1, 3, 16, 16], [4, 3, 16, 16], [9, 3, 16, 16]));
        _out.WriteLine(engine.Describe());
        using var ec = engine.CreateContext();
        var reference = Optimize(g);
        foreach (long batch in new long[] { 1, 7, 9, 2 })
        {
            var x = Tensor.FromFloats(Rand(new Random(seed + (int)batch), batch * 3 * 16 * 16), [batch, 3, 16, 16]);
            var want = ReferenceExecutor.Run(reference, new Dictionary<string, Tensor> { ["input"] = x })["probs"];
            var got = ec.Run(new Dictionary<string, Tensor> { ["input"] = x })["probs"];
            Assert.Equal(want.Shape, got.Shape);
            double err = RelL2(got.Floats!, want.Floats!);
            _out.WriteLine($"{precision} batch {batch}: rel L2 {err:E3} (seed {seed})");
            Assert.True(err <= tol, $"{precision} batch {batch}: rel L2 {err:E3} > {tol:E0} (seed {seed})");
        }
    }

    private static Graph Optimize(Graph g) => TrtNative.Passes.Optimizer.Optimize(g);

    [Fact]
    public void GraphReplayGivesTheSameOutputsAsPlainLaunches()
    {
        RequireEngine();
        var g = SmallNet(7);
        using var ctx = CudaContext.Create();
        using var engine = new Builder(ctx).Build(g, Config(Precision.Fp32, "input", [1, 3, 16, 16], [2, 3, 16, 16], [4, 3, 16, 16]));
        using var ec = engine.CreateContext();
        var x = Tensor.FromFloats(Rand(new Random(3), 3 * 3 * 16 * 16), [3, 3, 16, 16]);
        var inputs = new Dictionary<string, Tensor> { ["input"] = x };
        var first = ec.Run(inputs)["probs"].Floats!;
        Assert.Equal(GraphState.NotCaptured, ec.GraphState);
        var second = ec.Run(inputs)["probs"].Floats!;
        Assert.Equal(GraphState.Replaying, ec.GraphState);
        var third = ec.Run(inputs)["probs"].Floats!;
        Assert.Equal(first, second);
        Assert.Equal(first, third);
        // A new shape gets its own set-up: its first run is plain, the next captured.
        var y = Tensor.FromFloats(Rand(new Random(4), 2 * 3 * 16 * 16), [2, 3, 16, 16]);
        var yInputs = new Dictionary<string, Tensor> { ["input"] = y };
        var y1 = ec.Run(yInputs)["probs"].Floats!;
        Assert.Equal(GraphState.NotCaptured, ec.GraphState);
        Assert.Equal(y1, ec.Run(yInputs)["probs"].Floats!);
        Assert.Equal(GraphState.Replaying, ec.GraphState);
        // Switching back keeps each shape's graph: both replay at once, with the same outputs as before.
        Assert.Equal(first, ec.Run(inputs)["probs"].Floats!);
        Assert.Equal(GraphState.Replaying, ec.GraphState);
        Assert.Equal(y1, ec.Run(yInputs)["probs"].Floats!);
        Assert.Equal(GraphState.Replaying, ec.GraphState);
    }

    [Fact]
    public void ProfileTimesEveryLayerAndComputesWhatARunComputes()
    {
        RequireEngine();
        var g = SmallNet(9);
        using var ctx = CudaContext.Create();
        using var engine = new Builder(ctx).Build(g, Config(Precision.Fp16, "input", [1, 3, 16, 16], [2, 3, 16, 16], [4, 3, 16, 16]));
        using var ec = engine.CreateContext();
        using var stream = CudaStream.Create(ctx);
        var x = Tensor.FromFloats(Rand(new Random(6), 3 * 3 * 16 * 16), [3, 3, 16, 16]);
        var inputs = new Dictionary<string, Tensor> { ["input"] = x };
        var before = ec.Run(inputs)["probs"].Floats!;
        var layers = ec.ProfileLayers(stream);
        Assert.Equal(engine.LayerCount, layers.Count);
        Assert.All(layers, l => Assert.True(float.IsFinite(l.Milliseconds) && l.Milliseconds >= 0, $"{l.Name}: {l.Milliseconds} ms"));
        Assert.True(layers.Sum(l => l.Milliseconds) > 0);
        Assert.Contains(layers, l => l.Kind == "Conv");
        Assert.Equal(new long[] { 3, 10 }, layers[^1].OutputShape); // the last layer writes the output, batch 3
        // Every convolution names what it ran: a cuDNN graph, a legacy algorithm or the direct kernel.
        Assert.All(layers.Where(l => l.Kind == "Conv"), l => Assert.Matches("^(cudnn graph|cudnn legacy|direct conv kernel)", l.Implementation));
        foreach (var l in layers) _out.WriteLine($"{l.Kind,-9} {l.Milliseconds,8:F4} ms [{string.Join(",", l.OutputShape)}] {l.Name}: {l.Implementation}");
        // The profiled run computed the outputs from the same inputs, and the context runs on as before.
        Assert.Equal(before, ec.Run(inputs)["probs"].Floats!);
    }

    [Fact]
    public void ShapeOutsideProfileIsAClearErrorAndTheContextKeepsWorking()
    {
        RequireEngine();
        var g = SmallNet(11);
        using var ctx = CudaContext.Create();
        using var engine = new Builder(ctx).Build(g, Config(Precision.Fp32, "input", [1, 3, 16, 16], [2, 3, 16, 16], [4, 3, 16, 16]));
        using var ec = engine.CreateContext();
        var e = Assert.Throws<TrtNativeException>(() => ec.SetInputShape("input", [5, 3, 16, 16]));
        Assert.Equal(ErrorCode.ShapeMismatch, e.Code);
        Assert.Contains("outside the engine's optimization profile", e.Message);
        Assert.Contains("dimension 0 is 5, allowed 1..4", e.Message);
        var e2 = Assert.Throws<TrtNativeException>(() => ec.SetInputShape("input", [2, 3, 17, 16]));
        Assert.Equal(ErrorCode.ShapeMismatch, e2.Code);
        var x = Tensor.FromFloats(Rand(new Random(5), 4 * 3 * 16 * 16), [4, 3, 16, 16]);
        var got = ec.Run(new Dictionary<string, Tensor> { ["input"] = x })["probs"];
        Assert.Equal(new long[] { 4, 10 }, got.Shape);
        Assert.All(got.Floats!, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void PlanRoundTripIsBitIdenticalAndRunsIdentically()
    {
        RequireEngine();
        var g = SmallNet(21);
        using var ctx = CudaContext.Create();
        using var engine = new Builder(ctx).Build(g, Config(Precision.Fp16, "input", [1, 3, 16, 16], [2, 3, 16, 16], [4, 3, 16, 16]));
        byte[] plan = engine.Serialize();
        using var loaded = Engine.Deserialize(ctx, plan);
        byte[] again = loaded.Serialize();
        Assert.Equal(plan, again);
        var x = Tensor.FromFloats(Rand(new Random(6), 3 * 3 * 16 * 16), [3, 3, 16, 16]);
        var inputs = new Dictionary<string, Tensor> { ["input"] = x };
        using var a = engine.CreateContext();
        using var b = loaded.CreateContext();
        Assert.Equal(a.Run(inputs)["probs"].Floats!, b.Run(inputs)["probs"].Floats!);

        string path = Path.Combine(Path.GetTempPath(), $"trtn-test-{Guid.NewGuid():N}.plan");
        try
        {
            engine.Save(path);
            Assert.Equal(plan, File.ReadAllBytes(path));
            using var fromFile = Engine.Load(ctx, path, engine.Header.ModelHash);
            Assert.Equal(engine.LayerCount, fromFile.LayerCount);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void StaleAndCorruptPlansAreRefusedWithClearErrors()
    {
        RequireEngine();
        var g = SmallNet(31);
        using var ctx = CudaContext.Create();
        var config = Config(Precision.Fp32, "input", [1, 3, 16, 16], [1, 3, 16, 16], [2, 3, 16, 16]);
        using var engine = new Builder(ctx).Build(g, config);
        byte[] plan = engine.Serialize();
        // The same settings load; other settings (precision, workspace) make the plan stale.
        using (Engine.Deserialize(ctx, plan, expectedConfig: config)) { }
        var otherConfig = Config(Precision.Fp16, "input", [1, 3, 16, 16], [1, 3, 16, 16], [2, 3, 16, 16]);
        var staleConfig = Assert.Throws<TrtNativeException>(() => Engine.Deserialize(ctx, plan, expectedConfig: otherConfig));
        Assert.Equal(ErrorCode.StalePlan, staleConfig.Code);
        _out.WriteLine(staleConfig.Message);
        var stale = Assert.Throws<TrtNativeException>(() => Engine.Deserialize(ctx, plan, expectedModelHash: new string('0', 64)));
        Assert.Equal(ErrorCode.StalePlan, stale.Code);
        _out.WriteLine(stale.Message);
        var corrupt = (byte[])plan.Clone();
        corrupt[corrupt.Length / 2] ^= 0x40;
        var bad = Assert.Throws<TrtNativeException>(() => Engine.Deserialize(ctx, corrupt));
        Assert.Equal(ErrorCode.CorruptPlan, bad.Code);
        var truncated = plan[..(plan.Length - 100)];
        Assert.Equal(ErrorCode.CorruptPlan, Assert.Throws<TrtNativeException>(() => Engine.Deserialize(ctx, truncated)).Code);
        // The process keeps working: the intact plan still loads and runs.
        using var ok = Engine.Deserialize(ctx, plan);
        using var ec = ok.CreateContext();
        var x = Tensor.FromFloats(Rand(new Random(8), 2 * 3 * 16 * 16), [2, 3, 16, 16]);
        Assert.Equal(new long[] { 2, 10 }, ec.Run(new Dictionary<string, Tensor> { ["input"] = x })["probs"].Shape);
    }

    [Fact]
    public void ImpossibleAllocationIsOutOfMemoryAndTheProcessKeepsWorking()
    {
        RequireEngine();
        var g = SmallNet(41);
        using var ctx = CudaContext.Create();
        var builder = new Builder(ctx);
        // A profile whose largest activation is ~ 8 TB: the arena cannot be allocated.
        var huge = Config(Precision.Fp32, "input", [1, 3, 16, 16], [1, 3, 16, 16], [1L << 30, 3, 16, 16]);
        huge.Autotune = false;
        using var engine = builder.Build(g, huge);
        var e = Assert.Throws<TrtNativeException>(() => engine.CreateContext());
        Assert.Equal(ErrorCode.OutOfMemory, e.Code);
        _out.WriteLine(e.Message);
        using var small = builder.Build(g, Config(Precision.Fp32, "input", [1, 3, 16, 16], [1, 3, 16, 16], [2, 3, 16, 16]));
        using var ec = small.CreateContext();
        var x = Tensor.FromFloats(Rand(new Random(9), 3 * 16 * 16), [1, 3, 16, 16]);
        Assert.Equal(new long[] { 1, 10 }, ec.Run(new Dictionary<string, Tensor> { ["input"] = x })["probs"].Shape);
    }

    [Fact]
    public void UnsupportedOpIsNamedWithTheNode()
    {
        RequireEngine();
        var g = new Graph { Name = "bad" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, Shapes.Of(2, 3)));
        g.Nodes.Add(new Node("Relu", ["x"], ["y"], "relu"));
        g.Nodes.Add(new Node("Greater", ["y", "x"], ["z"], "cmp"));
        g.Outputs.Add(new ValueInfo("z", DataType.Bool, null));
        using var ctx = CudaContext.Create();
        var e = Assert.Throws<TrtNativeException>(() => new Builder(ctx).Build(g, new BuilderConfig()));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Contains("'cmp'", e.Message);
        Assert.Contains("Greater", e.Message);
    }
}

/// <summary>The timing cache: a second build of the same graph takes every tactic from the cache and gives the same engine.</summary>
public class TimingCacheGpuTests
{
    [Fact]
    public void SecondBuildTakesItsTacticsFromTheCache()
    {
        EngineGpuTests.RequireEngine();
        var g = EngineGpuTests.SmallNet(51);
        using var ctx = CudaContext.Create();
        var cache = new TimingCache();
        var config = EngineGpuTests.Config(Precision.Fp16, "input", [1, 3, 16, 16], [2, 3, 16, 16], [4, 3, 16, 16]);
        config.TimingCache = cache;
        // Precision protection would add its decision, and a rebuild with nodes kept in fp32 more layers, to the cache.
        config.PrecisionProtection = false;
        var builder = new Builder(ctx);
        using var first = builder.Build(g, config);
        // Timed at two tuning points, the opt shapes (batch 2) and the min shapes (batch 1): a cache entry per layer and
        // point. A layer whose two timings chose different tactics records both, opt first.
        Assert.Equal(2 * first.Program.Layers.Count(l => l.Tunable), cache.Count);
        foreach (var l in first.Program.Layers.Where(l => l.Tunable && l.ShapeTactics.Count > 0))
        {
            Assert.Equal(2, l.ShapeTactics.Count);
            Assert.Equal(l.Tactic, l.ShapeTactics[0].Tactic);
            Assert.Equal(l.ShapeTactics[0].OutputElements, 2 * l.ShapeTactics[1].OutputElements);
        }
        var messages = new List<string>();
        using var second = builder.Build(g, config, progress: new ListProgress(messages));
        Assert.Contains(messages, m => m.Contains("all from the timing cache"));
        Assert.Equal(first.Program.Layers.Select(l => l.Tactic), second.Program.Layers.Select(l => l.Tactic));
        Assert.Equal(first.Program.Layers.SelectMany(l => l.ShapeTactics), second.Program.Layers.SelectMany(l => l.ShapeTactics));
        Assert.Equal(first.Serialize(), second.Serialize());

        string path = Path.Combine(Path.GetTempPath(), $"trtn-cache-{Guid.NewGuid():N}.bin");
        try
        {
            TimingCacheFile.Save(path, cache);
            Assert.Equal(cache.Count, TimingCacheFile.Load(path).Count);
        }
        finally { File.Delete(path); }
    }

    private sealed class ListProgress(List<string> into) : IProgress<BuildProgress>
    {
        public void Report(BuildProgress value) => into.Add(value.Message);
    }
}
