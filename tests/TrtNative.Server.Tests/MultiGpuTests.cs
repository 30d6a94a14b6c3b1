using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using TrtNative.Server.Api;
using TrtNative.Server.Inference;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>
/// A fake GPU engine on GPU <see cref="Gpu"/>: per item, scores (first input value, second input value, the GPU's
/// ordinal), so a test sees both which item and which replica produced them. While its GPU is marked dead in
/// <see cref="FakeGpus"/>, a run throws a CUDA error (as a lost device does); <see cref="Throw"/> throws any other
/// exception once; <see cref="Gate"/> holds runs; <see cref="FakeGpus.Meet"/> makes runs wait for each other.
/// </summary>
public class FakeGpuBackend(FakeGpus gpus, int gpu, int max = 4) : IInferenceBackend
{
    public int Gpu => gpu;
    public string Kind => "fake-gpu";
    public int MaxBatchSize => max;
    public int OutputSize => 3;
    public long DeviceMemoryBytes => 1000 + gpu;
    public bool Disposed { get; private set; }
    public int Runs => Volatile.Read(ref _runs);
    public Exception? Throw { get; set; }
    public ManualResetEventSlim? Gate { get; set; }
    public ManualResetEventSlim Entered { get; } = new(false);
    private int _runs;

    public float[] Run(IReadOnlyList<PreparedImage> images)
    {
        Entered.Set();
        Gate?.Wait(TimeSpan.FromSeconds(30));
        gpus.Meet?.SignalAndWait(TimeSpan.FromSeconds(30));
        if (gpus.RunDelayMs > 0) Thread.Sleep(gpus.RunDelayMs);
        if (Interlocked.Exchange(ref _throwOnce, null) is { } once) throw once;
        if (gpus.IsDead(gpu)) throw new TrtNativeException(ErrorCode.CudaError, $"cudaStreamSynchronize failed on GPU {gpu}: an illegal memory access was encountered");
        Interlocked.Increment(ref _runs);
        var y = new float[images.Count * 3];
        for (int b = 0; b < images.Count; b++)
        {
            var im = images[b];
            y[b * 3] = im.Tensor?[0] ?? im.Pixels[0];
            y[b * 3 + 1] = im.Tensor?[1] ?? im.Pixels[1];
            y[b * 3 + 2] = gpu;
        }
        return y;
    }

    private Exception? _throwOnce;
    public void ThrowOnce(Exception e) => _throwOnce = e;

    // For the pipelined variant: the scores are computed at submit (the inputs are only valid then), delivered at complete.
    protected IPendingBatch SubmitRun(IReadOnlyList<PreparedImage> images)
    {
        try
        {
            return new Done(Run(images), null);
        }
        catch (TrtNativeException e)
        {
            // A device error surfaces at the synchronisation, as on a real stream.
            return new Done(null, e);
        }
    }

    private sealed class Done(float[]? y, Exception? e) : IPendingBatch
    {
        public float[] Complete() => y ?? throw e!;
    }

    public void Dispose() => Disposed = true;

    /// <summary>An item whose first two values identify it.</summary>
    public static PreparedImage Item(int id) => new([(byte)(id % 256), (byte)(id / 256)], new TrtNative.Runtime.ImageNormalization(1));

    /// <summary>The id <see cref="Item"/> encoded, from an item's scores.</summary>
    public static int Id(float[] scores) => (int)scores[0] + 256 * (int)scores[1];
}

/// <summary>A <see cref="FakeGpuBackend"/> that the replica's worker pipelines (submit, then complete).</summary>
public sealed class PipelinedFakeGpuBackend(FakeGpus gpus, int gpu, int max) : FakeGpuBackend(gpus, gpu, max), IPipelinedBackend
{
    public IPendingBatch Submit(IReadOnlyList<PreparedImage> images) => SubmitRun(images);
}

/// <summary>The fake machine: its GPUs (names), which are dead, and every backend made on them.</summary>
public sealed class FakeGpus
{
    private readonly ConcurrentDictionary<int, bool> _dead = new();
    public string[] Names { get; set; } = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"];
    public int RunDelayMs { get; set; }
    public bool Pipelined { get; set; }
    public Barrier? Meet { get; set; }
    public ConcurrentQueue<FakeGpuBackend> Made { get; } = new();
    public ConcurrentQueue<BackendSpec> Specs { get; } = new();
    public void Kill(int gpu) => _dead[gpu] = true;
    public void Repair(int gpu) => _dead.TryRemove(gpu, out _);
    public bool IsDead(int gpu) => _dead.ContainsKey(gpu);

    public FakeGpuBackend Make(int gpu, int max = 4)
    {
        var b = Pipelined ? new PipelinedFakeGpuBackend(this, gpu, max) : new FakeGpuBackend(this, gpu, max);
        Made.Enqueue(b);
        return b;
    }

    /// <summary>The backend currently on <paramref name="gpu"/> (the last one made there).</summary>
    public FakeGpuBackend On(int gpu) => Made.Last(b => b.Gpu == gpu);
}

/// <summary>A backend factory that claims <see cref="FakeGpus.Names"/>.Length GPUs and makes fake GPU engines on them.</summary>
internal sealed class FakeMultiGpuFactory(ServerOptions o, FakeGpus gpus) : BackendFactory(o)
{
    public override int GpuCount => gpus.Names.Length;
    public override GpuInfo Gpu(int ordinal) => new(ordinal, gpus.Names[ordinal], 90, 80L << 30);
    public override BackendKind Select(string mllib, out string reason)
    {
        reason = $"test: {gpus.Names.Length} GPUs claimed";
        return mllib == "onnxruntime" ? BackendKind.Cpu : BackendKind.Gpu;
    }
    public override IInferenceBackend Create(BackendKind kind, BackendSpec spec)
    {
        if (kind == BackendKind.Cpu) return new TensorScoresBackend("fake-cpu");
        if (gpus.IsDead(spec.GpuId)) throw new TrtNativeException(ErrorCode.CudaError, $"cuDevicePrimaryCtxRetain failed on GPU {spec.GpuId}: device lost");
        gpus.Specs.Enqueue(spec);
        return gpus.Make(spec.GpuId, spec.MaxBatchSize);
    }
}

/// <summary>The dispatcher and the replicas' workers, driven directly.</summary>
public class ReplicaSetTests
{
    private static (ReplicaSet set, FakeGpus gpus) Set(int n, int max = 1, bool pipelined = false)
    {
        var gpus = new FakeGpus { Pipelined = pipelined };
        var replicas = Enumerable.Range(0, n).Select(g => new Replica(g, g, gpus.Names[g % 3], gpus.Make(g, max), null)).ToList();
        return (new ReplicaSet(replicas, r => gpus.Make(r.Gpu!.Value, max)), gpus);
    }

    private static DynamicBatcher Batcher(ReplicaSet set, int delayMs = 0) => new(set, itemSize: 2, TimeSpan.FromMilliseconds(delayMs), capacity: 10000);

    [Fact]
    public async Task ReplicasRunConcurrently()
    {
        // Each run waits (up to 30 s) until the other replica's run has started too: that happens only if the two
        // replicas run at the same time.
        var (set, gpus) = Set(2);
        gpus.Meet = new Barrier(2);
        await using var q = Batcher(set);
        var a = q.SubmitAsync([FakeGpuBackend.Item(1)]);
        var b = q.SubmitAsync([FakeGpuBackend.Item(2)]);
        var done = await Task.WhenAll(a, b).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal([1, 2], done.Select(r => FakeGpuBackend.Id(r[0])));
        Assert.Equal([0f, 1f], done.Select(r => r[0][2]).Order());
        Assert.Equal([1L, 1L], set.Replicas.Select(r => r.Batches));
        await set.DisposeAsync();
    }

    /// <summary>A metrics or log observer that throws must not stop the replica's worker (later batches would hang).</summary>
    [Fact]
    public async Task AThrowingObserverDoesNotStopTheReplica()
    {
        var gpus = new FakeGpus();
        var replicas = new List<Replica> { new(0, 0, gpus.Names[0], gpus.Make(0, 1), null) };
        var set = new ReplicaSet(replicas, r => gpus.Make(r.Gpu!.Value, 1)) { OnBatch = (_, _, _) => throw new InvalidOperationException("metrics broke") };
        await using var q = Batcher(set);
        for (int i = 1; i <= 3; i++)
        {
            var got = await q.SubmitAsync([FakeGpuBackend.Item(i)]).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(i, FakeGpuBackend.Id(got[0]));
        }
        Assert.Equal(3L, set.Replicas[0].Batches);
        await set.DisposeAsync();
    }

    [Fact]
    public async Task BatchesGoToTheLeastLoadedReplicaAndTiesToTheLowerIndex()
    {
        var (set, gpus) = Set(3);
        await using var q = Batcher(set);
        // One at a time: every replica is idle each time, so the tie goes to replica 0.
        for (int i = 0; i < 4; i++) Assert.Equal(0f, (await q.SubmitAsync([FakeGpuBackend.Item(i)]))[0][2]);
        Assert.Equal([4L, 0L, 0L], set.Replicas.Select(r => r.Batches));

        // Replica 0 busy (held): the next batch goes to 1; with 0 and 1 busy, to 2.
        using var hold0 = new ManualResetEventSlim(false);
        using var hold1 = new ManualResetEventSlim(false);
        gpus.On(0).Gate = hold0;
        gpus.On(1).Gate = hold1;
        var on0 = q.SubmitAsync([FakeGpuBackend.Item(10)]);
        Assert.True(gpus.On(0).Entered.Wait(TimeSpan.FromSeconds(20)));
        var on1 = q.SubmitAsync([FakeGpuBackend.Item(11)]);
        Assert.True(gpus.On(1).Entered.Wait(TimeSpan.FromSeconds(20)));
        var on2 = await q.SubmitAsync([FakeGpuBackend.Item(12)]);
        Assert.Equal((12, 2f), (FakeGpuBackend.Id(on2[0]), on2[0][2]));
        Assert.Equal([1, 1, 0], set.Replicas.Select(r => r.InFlight));
        hold0.Set();
        hold1.Set();
        Assert.Equal((10, 0f), (FakeGpuBackend.Id((await on0)[0]), (await on0)[0][2]));
        Assert.Equal((11, 1f), (FakeGpuBackend.Id((await on1)[0]), (await on1)[0][2]));
        Assert.Equal([5L, 1L, 1L], set.Replicas.Select(r => r.Batches));
        await set.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task UnderConcurrentLoadEveryReplicaWorksAndEveryRequestGetsItsOwnScores(bool pipelined)
    {
        var (set, gpus) = Set(3, max: 4, pipelined);
        gpus.RunDelayMs = 3;
        await using var q = Batcher(set, delayMs: 2);
        var tasks = Enumerable.Range(0, 150).Select(i => Task.Run(() =>
        {
            int k = 1 + i % 3;
            return q.SubmitAsync(Enumerable.Range(0, k).Select(j => FakeGpuBackend.Item(i * 3 + j)).ToList());
        })).ToArray();
        var results = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(120));
        for (int i = 0; i < results.Length; i++)
        {
            Assert.Equal(1 + i % 3, results[i].Length);
            for (int j = 0; j < results[i].Length; j++) Assert.Equal(i * 3 + j, FakeGpuBackend.Id(results[i][j]));
        }
        Assert.All(set.Replicas, r => Assert.True(r.Batches > 0, $"replica {r.Index} ran no batch: {string.Join(",", set.Replicas.Select(x => x.Batches))}"));
        Assert.Equal(300L, set.Replicas.Sum(r => r.Images)); // 50 × (1 + 2 + 3)
        // Each replica's count is what its scores say it ran.
        var byGpu = results.SelectMany(r => r).GroupBy(s => (int)s[2]).ToDictionary(g => g.Key, g => (long)g.Count());
        Assert.Equal(set.Replicas.Select(r => r.Images), Enumerable.Range(0, 3).Select(g => byGpu.GetValueOrDefault(g)));
        await set.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ADeviceErrorTakesTheReplicaOutAndItsBatchIsRetriedOnAnother(bool pipelined)
    {
        var (set, gpus) = Set(2, pipelined: pipelined);
        var failed = new List<string>();
        set = new ReplicaSet(set.Replicas, r => gpus.Make(r.Gpu!.Value, 1)) { OnFailed = (r, e) => failed.Add($"{r.Label}: {e.Message}") };
        await using var q = Batcher(set);
        gpus.Kill(0);
        // Idle: the batch goes to replica 0, which fails; the same batch then runs on replica 1.
        var r1 = await q.SubmitAsync([FakeGpuBackend.Item(7)]);
        Assert.Equal((7, 1f), (FakeGpuBackend.Id(r1[0]), r1[0][2]));
        var dead = set.Replicas[0];
        Assert.Equal(ReplicaState.Failed, dead.State);
        Assert.Contains("illegal memory access", dead.Error);
        Assert.Equal(1, dead.Failures);
        Assert.Equal(["0: cudaStreamSynchronize failed on GPU 0: an illegal memory access was encountered"], failed);
        Assert.True(set.AnyHealthy);
        // Out of rotation: everything goes to replica 1 now, and keeps succeeding.
        for (int i = 0; i < 5; i++) Assert.Equal(1f, (await q.SubmitAsync([FakeGpuBackend.Item(20 + i)]))[0][2]);
        Assert.Equal((0L, 6L), (dead.Batches, set.Replicas[1].Batches));

        // The GPU is back (repaired); a restore gives the replica a fresh backend and puts it back into rotation.
        gpus.Repair(0);
        var restored = await set.RestoreAsync(null);
        Assert.Equal([dead], restored);
        Assert.Equal((ReplicaState.Healthy, (string?)null), (dead.State, dead.Error));
        Assert.True(gpus.Made.First(b => b.Gpu == 0).Disposed); // the failed backend was freed
        Assert.Equal(0f, (await q.SubmitAsync([FakeGpuBackend.Item(30)]))[0][2]); // tie → replica 0 again
        await set.DisposeAsync();
    }

    [Fact]
    public async Task ABatchIsRetriedOnceOnly()
    {
        var (set, gpus) = Set(3);
        await using var q = Batcher(set);
        gpus.Kill(0);
        gpus.Kill(1);
        // Replica 0 fails, the retry goes to 1 (tie with 2, lower index), which fails too: the batch ends there (its
        // images might be what breaks the devices) though replica 2 is healthy; the next batch goes to 2.
        var e = await Assert.ThrowsAsync<NoHealthyReplicaException>(() => q.SubmitAsync([FakeGpuBackend.Item(1)]));
        Assert.Contains("GPU 1 (NVIDIA H100 80GB HBM3) failed while running the batch, after a retry on another replica", e.Message);
        Assert.Equal([ReplicaState.Failed, ReplicaState.Failed, ReplicaState.Healthy], set.Replicas.Select(r => r.State));
        Assert.Equal(2f, (await q.SubmitAsync([FakeGpuBackend.Item(2)]))[0][2]);
        await set.DisposeAsync();
    }

    [Fact]
    public async Task AnErrorThatIsNotTheDevicesFailsOnlyItsBatch()
    {
        var (set, gpus) = Set(2);
        await using var q = Batcher(set);
        gpus.On(0).ThrowOnce(new ArgumentException("batch of 9 images is outside 1..4"));
        var e = await Assert.ThrowsAsync<ArgumentException>(() => q.SubmitAsync([FakeGpuBackend.Item(1)]));
        Assert.Contains("outside 1..4", e.Message);
        Assert.All(set.Replicas, r => Assert.Equal(ReplicaState.Healthy, r.State));
        Assert.Equal(0f, (await q.SubmitAsync([FakeGpuBackend.Item(2)]))[0][2]);
        Assert.False(ReplicaSet.IsDeviceFailure(new TrtNativeException(ErrorCode.ShapeMismatch, "x")));
        Assert.False(ReplicaSet.IsDeviceFailure(new TrtNativeException(ErrorCode.InvalidArgument, "x")));
        Assert.True(ReplicaSet.IsDeviceFailure(new TrtNativeException(ErrorCode.CudaError, "x")));
        Assert.True(ReplicaSet.IsDeviceFailure(new TrtNativeException(ErrorCode.NoDevice, "x")));
        await set.DisposeAsync();
    }

    [Fact]
    public async Task WhenEveryReplicaHasFailedBatchesFailWithTheReasons()
    {
        var (set, gpus) = Set(2);
        await using var q = Batcher(set);
        gpus.Kill(0);
        gpus.Kill(1);
        // Tried on 0, retried on 1: both fail, and the batch fails naming both.
        var e = await Assert.ThrowsAsync<NoHealthyReplicaException>(() => q.SubmitAsync([FakeGpuBackend.Item(1)]));
        Assert.Contains("all 2 replicas", e.Message);
        Assert.Contains("GPU 0", e.Message);
        Assert.Contains("GPU 1", e.Message);
        Assert.False(set.AnyHealthy);
        // Later items fail at once, without a replica to wait for.
        var e2 = await Assert.ThrowsAsync<NoHealthyReplicaException>(() => q.SubmitAsync([FakeGpuBackend.Item(2)]).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains("out of rotation", e2.Message);
        await set.DisposeAsync();
    }
}

/// <summary>gpuid parsing and the plan names (no server).</summary>
public class GpuSelectionTests
{
    [Theory]
    [InlineData("null", "0")]
    [InlineData("0", "0")]
    [InlineData("3", "3")]
    [InlineData("[1]", "1")]
    [InlineData("[2, 0, 1]", "[2,0,1]")]
    [InlineData("\"all\"", "all")]
    [InlineData("\"ALL\"", "all")]
    [InlineData("-1", "all")]
    [InlineData("2.0", "2")]
    public void ValidForms(string json, string parsed)
    {
        var node = JsonNode.Parse(json);
        Assert.Equal(parsed, GpuSelection.Parse(node).ToString());
    }

    [Theory]
    [InlineData("[]", 400, 1006, "parameters.mllib.gpuid is an empty list")]
    [InlineData("[0, 1, 0]", 400, 1006, "parameters.mllib.gpuid lists GPU 0 twice")]
    [InlineData("[0, \"1\"]", 400, 400, "'parameters.mllib.gpuid[1]' must be an integer")]
    [InlineData("[0, 1.5]", 400, 400, "'parameters.mllib.gpuid[1]' must be an integer")]
    [InlineData("[-1]", 400, 1006, "parameters.mllib.gpuid[0] is -1")]
    [InlineData("\"two\"", 400, 400, "(got the string 'two')")]
    [InlineData("-2", 400, 1006, "parameters.mllib.gpuid must be >= 0, or -1 for every GPU (got -2)")]
    [InlineData("1.5", 400, 400, "'parameters.mllib.gpuid' must be an integer, a list of integers, \"all\" or -1")]
    [InlineData("true", 400, 400, "'parameters.mllib.gpuid' must be an integer")]
    [InlineData("{\"gpu\": 1}", 400, 400, "'parameters.mllib.gpuid' must be an integer")]
    public void InvalidFormsNameTheField(string json, int http, int dd, string message)
    {
        var e = Assert.Throws<DdException>(() => GpuSelection.Parse(JsonNode.Parse(json)));
        Assert.Equal((http, dd), (e.HttpCode, e.DdCode));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void ResolveAppliesTheMachinesGpuCount()
    {
        Assert.Equal([0, 1, 2], GpuSelection.Every.Resolve(3));
        Assert.Equal([2, 0], GpuSelection.Parse(JsonNode.Parse("[2, 0]")).Resolve(3));
        var e = Assert.Throws<DdException>(() => GpuSelection.Parse(JsonNode.Parse("[0, 3]")).Resolve(3));
        Assert.Equal((400, 1006, "parameters.mllib.gpuid 3 does not exist: this machine has 3 GPU(s)"), (e.HttpCode, e.DdCode, e.Message));
        Assert.Contains("has none", Assert.Throws<DdException>(() => GpuSelection.Every.Resolve(0)).Message);
    }

    [Theory]
    [InlineData("NVIDIA H100 80GB HBM3", "h100-80gb-hbm3")]
    [InlineData("NVIDIA H100 PCIe", "h100-pcie")]
    [InlineData("NVIDIA A100-SXM4-80GB", "a100-sxm4-80gb")]
    [InlineData("NVIDIA GeForce RTX 4090", "geforce-rtx-4090")]
    [InlineData("Tesla T4", "tesla-t4")]
    [InlineData("  NVIDIA  L4 ", "l4")]
    public void DeviceTagsAreShortAndFileNameSafe(string name, string tag) => Assert.Equal(tag, PlanFiles.DeviceTag(name));

    [Fact]
    public void LongOrEmptyDeviceNamesGetAHashAndStayDistinct()
    {
        string a = PlanFiles.DeviceTag("NVIDIA Some Very Long Data Center Accelerator Name 80GB Variant A");
        string b = PlanFiles.DeviceTag("NVIDIA Some Very Long Data Center Accelerator Name 80GB Variant B");
        Assert.True(a.Length <= 32 && b.Length <= 32, $"{a} / {b}");
        Assert.NotEqual(a, b);
        Assert.Matches("^[a-z0-9-]+$", a);
        Assert.Matches("^gpu-[0-9a-f]{8}$", PlanFiles.DeviceTag("***"));
        Assert.Equal("TRTengine_arch90_fp16_bs48_h100-pcie", PlanFiles.Plan("TRTengine", 90, "NVIDIA H100 PCIe", "fp16", 48));
        // Same SM, other model: another plan.
        Assert.NotEqual(PlanFiles.Plan("TRTengine", 90, "NVIDIA H100 PCIe", "fp16", 48), PlanFiles.Plan("TRTengine", 90, "NVIDIA H100 80GB HBM3", "fp16", 48));
    }
}

/// <summary>A server whose backend factory claims the GPUs of <see cref="Gpus"/> and makes fake engines on them.</summary>
public sealed class MultiGpuServerFactory : ServerFactory
{
    public FakeGpus Gpus { get; } = new();
    public MultiGpuServerFactory() =>
        TestServices = s => s.AddSingleton<BackendFactory>(sp => new FakeMultiGpuFactory(sp.GetRequiredService<ServerOptions>(), Gpus));
}

/// <summary>Multi-GPU services through the HTTP APIs, on fake GPUs.</summary>
public class MultiGpuServerTests
{
    private static async Task<JsonObject> Create(HttpClient c, MultiGpuServerFactory f, string name, JsonNode gpuid, JsonObject? mllib = null)
    {
        mllib ??= new JsonObject { ["maxBatchSize"] = 4 };
        mllib["gpuid"] = gpuid;
        var (code, body) = await Put(c, $"/services/{name}", MeansService(TestModels.MeansRepo(f.Dir.Sub(name)), mllib: mllib));
        Assert.True(code == HttpStatusCode.Created, body.ToJsonString());
        return await WaitWhileBuilding(c, name);
    }

    private static string Image(int i) => Img.B64(Img.Uniform((byte)(i % 256), (byte)(i * 7 % 256), 0));

    // Predicts image i and checks its scores are its own (R, G); returns the GPU that ran it.
    private static async Task<int> PredictOne(HttpClient c, string service, int i)
    {
        var (code, body) = await Post(c, "/predict", Predict(service, Image(i)));
        Assert.True(code == HttpStatusCode.OK, body.ToJsonString());
        Assert.Equal(i % 256, Prob(body, 0, "chan zero"), 4);
        Assert.Equal(i * 7 % 256, Prob(body, 0, "chan one"), 4);
        return (int)Prob(body, 0, "chan two");
    }

    private static JsonArray Replicas(JsonObject svc) => svc["replicas"]!.AsArray();

    [Fact]
    public async Task AListOfGpusGetsOneReplicaEachAndEveryOneServesItsShare()
    {
        using var f = new MultiGpuServerFactory();
        f.Gpus.RunDelayMs = 5;
        var c = f.CreateClient();
        var svc = await Create(c, f, "multi", new JsonArray(0, 2));
        Assert.Equal("ready", (string?)svc["state"]);
        Assert.Equal([0, 2], Replicas(svc).Select(r => (int)r!["gpu"]!));
        Assert.All(Replicas(svc), r => Assert.Equal(("NVIDIA H100 80GB HBM3", "healthy"), ((string?)r!["device"], (string?)r["state"])));

        var gpusUsed = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => Task.Run(() => PredictOne(c, "multi", i))));
        Assert.Subset(new HashSet<int> { 0, 2 }, gpusUsed.ToHashSet());

        svc = (await Get(c, "/services/multi")).body["body"]!.AsObject();
        var reps = Replicas(svc);
        Assert.All(reps, r => Assert.True((long)r!["batches"]! > 0, reps.ToJsonString()));
        Assert.Equal(60, reps.Sum(r => (long)r!["images"]!));
        // Each replica ran exactly the images whose scores name its GPU.
        Assert.Equal(gpusUsed.Count(g => g == 0), (long)reps[0]!["images"]!);
        var stats = svc["service_stats"]!;
        var perGpu = stats["per_gpu"]!.AsArray();
        Assert.Equal(["0", "2"], perGpu.Select(p => (string)p!["gpu"]!));
        Assert.Equal((long)stats["engine_batches"]!, perGpu.Sum(p => (long)p!["engine_batches"]!));
        Assert.Equal(60, (long)stats["inference_count"]!);
        Assert.Equal(2002, (long)svc["gpu_memory_bytes"]!); // the fakes on GPUs 0 and 2 hold 1000 + 0 and 1000 + 2 bytes
        Assert.Equal([1000L, 1002L], reps.Select(r => (long)r!["gpu_memory_bytes"]!));

        string m = await c.GetStringAsync("/metrics");
        foreach (var r in reps)
        {
            string gpu = ((int)r!["gpu"]!).ToString();
            Assert.Equal((double)(long)r["batches"]!, Prom.Value(m, "trtnative_replica_batches_total", ("service", "multi"), ("gpu", gpu)));
            Assert.Equal((double)(long)r["images"]!, Prom.Value(m, "trtnative_replica_images_total", ("service", "multi"), ("gpu", gpu)));
            Assert.Equal(1, Prom.Value(m, "trtnative_replica_healthy", ("service", "multi"), ("gpu", gpu)));
            Assert.Equal(1000 + (int)r["gpu"]!, Prom.Value(m, "trtnative_replica_gpu_memory_bytes", ("service", "multi"), ("gpu", gpu)));
        }

        var (kc, meta) = await Get(c, "/v2/models/multi");
        Assert.Equal(HttpStatusCode.OK, kc);
        Assert.Equal([0, 2], meta["replicas"]!.AsArray().Select(r => (int)r!["gpu"]!));
        Assert.Equal(60, meta["replicas"]!.AsArray().Sum(r => (long)r!["images"]!));
    }

    [Fact]
    public async Task TheEngineIsBuiltOncePerGpuModelAndLoadedOnTheOthers()
    {
        using var f = new MultiGpuServerFactory();
        f.Gpus.Names = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H100 80GB HBM3"];
        var c = f.CreateClient();
        var svc = await Create(c, f, "models", "all", new JsonObject { ["maxBatchSize"] = 4, ["readEngine"] = false });
        Assert.Equal(["NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe", "NVIDIA H100 80GB HBM3"], Replicas(svc).Select(r => (string)r!["device"]!));
        var specs = f.Gpus.Specs.ToList();
        // The leaders (GPU 0 for the HBM3 model, GPU 1 for the PCIe one) build as asked (readEngine false), one after
        // the other; GPU 2, the same model as GPU 0, comes after its leader and loads the plan it saved.
        Assert.Equal([0, 1, 2], specs.Select(s => s.GpuId));
        Assert.Equal([false, false, true], specs.Select(s => s.ReadEngine));

        // Without writeEngine no plan is saved: every GPU builds its own.
        f.Gpus.Specs.Clear();
        await Create(c, f, "nowrite", -1, new JsonObject { ["maxBatchSize"] = 4, ["readEngine"] = false, ["writeEngine"] = false });
        Assert.All(f.Gpus.Specs, s => Assert.False(s.ReadEngine));
        Assert.Equal(3, f.Gpus.Specs.Count);
    }

    [Fact]
    public async Task AListOfOneIsTheSingleGpuService()
    {
        using var f = new MultiGpuServerFactory();
        var c = f.CreateClient();
        var asInt = await Create(c, f, "as-int", 1);
        var asList = await Create(c, f, "as-list", new JsonArray(1));
        var specs = f.Gpus.Specs.ToList();
        Assert.Equal(2, specs.Count);
        Assert.Equal((specs[0].GpuId, specs[0].ReadEngine, specs[0].WriteEngine, specs[0].EngineFileName, specs[0].MaxBatchSize),
            (specs[1].GpuId, specs[1].ReadEngine, specs[1].WriteEngine, specs[1].EngineFileName, specs[1].MaxBatchSize));
        Assert.Equal(1, specs[0].GpuId);
        foreach (var svc in new[] { asInt, asList })
        {
            Assert.Equal([1], Replicas(svc).Select(r => (int)r!["gpu"]!));
        }
        Assert.Equal(1, await PredictOne(c, "as-list", 5));
        Assert.Equal(1, await PredictOne(c, "as-int", 6));
    }

    [Fact]
    public async Task AFailedGpuIsTakenOutTheOthersServeAndARestoreBringsItBack()
    {
        using var f = new MultiGpuServerFactory();
        f.Gpus.Names = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"];
        var c = f.CreateClient();
        await Create(c, f, "failover", "all");
        f.Gpus.Kill(0);
        // One at a time: each batch goes to idle GPU 0 first (ties go to the lower index); its failure takes it out and
        // the batch is retried on GPU 1, so no request fails.
        for (int i = 0; i < 4; i++) Assert.Equal(1, await PredictOne(c, "failover", 100 + i));

        var svc = (await Get(c, "/services/failover")).body["body"]!.AsObject();
        Assert.Equal("ready", (string?)svc["state"]);
        var dead = Replicas(svc)[0]!;
        Assert.Equal(("failed", 1L, 0L), ((string?)dead["state"], (long)dead["failures"]!, (long)dead["batches"]!));
        Assert.Contains("illegal memory access", (string?)dead["error"]);
        Assert.Equal(("healthy", 4L), ((string?)Replicas(svc)[1]!["state"], (long)Replicas(svc)[1]!["batches"]!));
        string m = await c.GetStringAsync("/metrics");
        Assert.Equal(0, Prom.Value(m, "trtnative_replica_healthy", ("service", "failover"), ("gpu", "0")));
        Assert.Equal(1, Prom.Value(m, "trtnative_replica_healthy", ("service", "failover"), ("gpu", "1")));
        Assert.Equal(1, Prom.Value(m, "trtnative_replica_failures_total", ("service", "failover"), ("gpu", "0")));
        // One GPU left: still ready.
        Assert.Equal(HttpStatusCode.OK, (await Get(c, "/v2/health/ready")).code);
        Assert.Equal(HttpStatusCode.OK, (await Get(c, "/v2/models/failover/ready")).code);
        Assert.Equal("failed", (string?)(await Get(c, "/v2/models/failover")).body["replicas"]![0]!["state"]);

        // A restore while the GPU is still gone fails, and says why.
        var (rc, rb) = await Post(c, "/services/failover/replicas/restore", new JsonObject());
        Assert.Equal((HttpStatusCode.InternalServerError, 1007), (rc, DdCode(rb)));
        Assert.Contains("replica 0 (GPU 0) was not restored: restore failed: cuDevicePrimaryCtxRetain failed on GPU 0", (string?)rb["status"]!["dd_msg"]);
        // Only GPUs of the service can be named.
        (rc, rb) = await Post(c, "/services/failover/replicas/restore", new JsonObject { ["gpuid"] = new JsonArray(5) });
        Assert.Equal((HttpStatusCode.BadRequest, 1006), (rc, DdCode(rb)));
        Assert.Contains("has no replica on GPU 5", (string?)rb["status"]!["dd_msg"]);

        f.Gpus.Repair(0);
        (rc, rb) = await Post(c, "/services/failover/replicas/restore", new JsonObject { ["gpuid"] = 0 });
        Assert.True(rc == HttpStatusCode.OK, rb.ToJsonString());
        Assert.Equal([0], rb["body"]!["restored"]!.AsArray().Select(r => (int)r!["gpu"]!));
        Assert.All(rb["body"]!["replicas"]!.AsArray(), r => Assert.Equal("healthy", (string?)r!["state"]));
        Assert.Null(rb["body"]!["replicas"]![0]!["error"]);
        Assert.Equal(0, await PredictOne(c, "failover", 200)); // back in rotation: the tie goes to GPU 0 again
        m = await c.GetStringAsync("/metrics");
        Assert.Equal(1, Prom.Value(m, "trtnative_replica_healthy", ("service", "failover"), ("gpu", "0")));
        // Nothing failed: a restore with nothing to do restores nothing.
        (rc, rb) = await Post(c, "/services/failover/replicas/restore", new JsonObject());
        Assert.Equal((HttpStatusCode.OK, 0), (rc, rb["body"]!["restored"]!.AsArray().Count));
    }

    [Fact]
    public async Task WhenEveryGpuHasFailedTheServiceIsNotReadyAndPredictsFailClearly()
    {
        using var f = new MultiGpuServerFactory();
        f.Gpus.Names = ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"];
        var c = f.CreateClient();
        await Create(c, f, "alldead", new JsonArray(0, 1));
        f.Gpus.Kill(0);
        f.Gpus.Kill(1);
        var (pc, pb) = await Post(c, "/predict", Predict("alldead", Image(1)));
        Assert.Equal((HttpStatusCode.InternalServerError, 1007), (pc, DdCode(pb)));
        string msg = (string)pb["status"]!["dd_msg"]!;
        Assert.Contains("all 2 replicas", msg);
        Assert.Contains("POST /services/alldead/replicas/restore", msg);
        // Later predicts fail at once, with the same explanation.
        (pc, pb) = await Post(c, "/predict", Predict("alldead", Image(2)));
        Assert.Equal((HttpStatusCode.InternalServerError, 1007), (pc, DdCode(pb)));
        Assert.Contains("GPU 0 (NVIDIA H100 80GB HBM3): cudaStreamSynchronize failed", (string)pb["status"]!["dd_msg"]!);

        var svc = (await Get(c, "/services/alldead")).body["body"]!.AsObject();
        Assert.Equal("failed", (string?)svc["state"]);
        Assert.Contains("out of rotation", (string?)svc["error"]);
        Assert.Equal("failed", (string?)(await Get(c, "/info")).body["head"]!["services"]![0]!["state"]);
        Assert.Equal(HttpStatusCode.BadRequest, (await Get(c, "/v2/health/ready")).code);
        Assert.Equal(HttpStatusCode.BadRequest, (await Get(c, "/v2/models/alldead/ready")).code);
        var infer = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "data", ["shape"] = new JsonArray(1, 4, 4, 3), ["datatype"] = "UINT8",
                ["data"] = new JsonArray(Enumerable.Range(0, 48).Select(_ => (JsonNode)1).ToArray()),
            }),
        };
        var (ic, ib) = await Post(c, "/v2/models/alldead/infer", infer);
        Assert.Equal(HttpStatusCode.InternalServerError, ic);
        Assert.Contains("out of rotation", (string?)ib["error"]);

        f.Gpus.Repair(0);
        f.Gpus.Repair(1);
        var (rc, rb) = await Post(c, "/services/alldead/replicas/restore", new JsonObject { ["gpuid"] = "all" });
        Assert.True(rc == HttpStatusCode.OK, rb.ToJsonString());
        Assert.Equal(2, rb["body"]!["restored"]!.AsArray().Count);
        Assert.Equal(HttpStatusCode.OK, (await Get(c, "/v2/health/ready")).code);
        Assert.Equal(0, await PredictOne(c, "alldead", 3));
        Assert.Equal("ready", (string?)(await Get(c, "/services/alldead")).body["body"]!["state"]);
    }

    [Fact]
    public async Task DeletingTheServiceFreesEveryReplicasBackend()
    {
        using var f = new MultiGpuServerFactory();
        f.Gpus.RunDelayMs = 2;
        var c = f.CreateClient();
        await Create(c, f, "gone", "all");
        f.Gpus.Kill(1); // one replica failed (its backend is still held until a restore or the delete)
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Task.Run(() => PredictOne(c, "gone", i))));
        Assert.Equal(HttpStatusCode.OK, (await Delete(c, "/services/gone")).code);
        Assert.Equal(3, f.Gpus.Made.Count);
        Assert.All(f.Gpus.Made, b => Assert.True(b.Disposed, $"the backend on GPU {b.Gpu} was not freed"));
        var (code, body) = await Post(c, "/predict", Predict("gone", Image(1)));
        Assert.Equal((HttpStatusCode.NotFound, 1002), (code, DdCode(body)));
        string m = await c.GetStringAsync("/metrics");
        Assert.Null(Prom.Value(m, "trtnative_replica_healthy", ("service", "gone"), ("gpu", "0"))); // its gauges went with it
    }

    [Theory]
    [InlineData("[]", 1006, "empty list")]
    [InlineData("[0, 0]", 1006, "lists GPU 0 twice")]
    [InlineData("[0, 3]", 1006, "parameters.mllib.gpuid 3 does not exist: this machine has 3 GPU(s)")]
    [InlineData("7", 1006, "parameters.mllib.gpuid 7 does not exist: this machine has 3 GPU(s)")]
    [InlineData("[0, \"1\"]", 400, "'parameters.mllib.gpuid[1]' must be an integer")]
    [InlineData("\"first\"", 400, "'parameters.mllib.gpuid' must be an integer, a list of integers, \"all\" or -1")]
    [InlineData("-3", 1006, "or -1 for every GPU (got -3)")]
    public async Task ABadGpuidIsRefusedNamingTheField(string gpuid, int dd, string message)
    {
        using var f = new MultiGpuServerFactory();
        var c = f.CreateClient();
        var mllib = new JsonObject { ["gpuid"] = JsonNode.Parse(gpuid) };
        var (code, body) = await Put(c, "/services/bad", MeansService(TestModels.MeansRepo(f.Dir.Sub("bad")), mllib: mllib));
        Assert.Equal((HttpStatusCode.BadRequest, dd), (code, DdCode(body)));
        Assert.Contains(message, (string?)body["status"]!["dd_msg"]);
        Assert.Equal(HttpStatusCode.NotFound, (await Get(c, "/services/bad")).code);
    }

    [Fact]
    public async Task ACpuServiceAcceptsAGpuListAndRunsOneBackend()
    {
        using var f = new ServerFactory();
        var c = f.CreateClient();
        var mllib = new JsonObject { ["gpuid"] = new JsonArray(0, 1) };
        var (code, body) = await Put(c, "/services/cpu", MeansService(TestModels.MeansRepo(f.Dir.Sub("cpu")), mllib: mllib, lib: "onnxruntime"));
        Assert.True(code == HttpStatusCode.Created, body.ToJsonString());
        var svc = await WaitWhileBuilding(c, "cpu");
        var reps = svc["replicas"]!.AsArray();
        Assert.Single(reps);
        Assert.Null(reps[0]!["gpu"]);
        Assert.Equal("onnxruntime-cpu", (string?)reps[0]!["device"]);
        Assert.Null(svc["service_stats"]!["per_gpu"]);
        var (pc, pb) = await Post(c, "/predict", Predict("cpu", Image(9)));
        Assert.Equal(HttpStatusCode.OK, pc);
        Assert.Equal(0.0, Prob(pb, 0, "chan zero"), 4); // B of (9, 63, 0): the means model, BGR
    }
}
