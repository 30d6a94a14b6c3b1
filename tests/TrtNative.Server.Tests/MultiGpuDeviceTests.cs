using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using TrtNative.Cuda;
using TrtNative.Server.Inference;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>A fact skipped, with the count found, unless the machine has at least the given number of usable GPUs.</summary>
public sealed class MultiGpuFactAttribute : FactAttribute
{
    public MultiGpuFactAttribute(int gpus = 2, [System.Runtime.CompilerServices.CallerFilePath] string? sourceFilePath = null,
        [System.Runtime.CompilerServices.CallerLineNumber] int sourceLineNumber = -1) : base(sourceFilePath, sourceLineNumber)
    {
        if (!CudaPlatform.IsAvailable(out var why)) Skip = $"needs {gpus} GPUs, this machine has none ({why})";
        else if (CudaDevice.Count < gpus) Skip = $"needs {gpus} GPUs, this machine has {CudaDevice.Count}";
    }
}

/// <summary>
/// A real backend whose GPU can be declared lost: while the <c>dead</c> set given to <see cref="FaultyGpuFactory"/> holds its ordinal, a batch
/// fails with the CUDA error a lost device gives (the real engine is not run).
/// </summary>
internal sealed class FaultInjectingBackend(IPipelinedBackend inner, int gpu, ConcurrentDictionary<int, bool> dead) : IPipelinedBackend
{
    public IInferenceBackend Inner => inner;
    public string Kind => inner.Kind;
    public int MaxBatchSize => inner.MaxBatchSize;
    public int OutputSize => inner.OutputSize;
    public long DeviceMemoryBytes => inner.DeviceMemoryBytes;
    public float[] Run(IReadOnlyList<PreparedImage> images) => Submit(images).Complete();
    public IPendingBatch Submit(IReadOnlyList<PreparedImage> images) =>
        dead.ContainsKey(gpu) ? throw new TrtNativeException(ErrorCode.CudaError, $"cudaLaunchKernel failed on GPU {gpu}: unspecified launch failure (injected)")
            : inner.Submit(images);
    public void Dispose() => inner.Dispose();
}

/// <summary>The server's own factory, with <see cref="FaultInjectingBackend"/> around every GPU backend.</summary>
internal sealed class FaultyGpuFactory(ServerOptions o, ConcurrentDictionary<int, bool> dead) : BackendFactory(o)
{
    public override IInferenceBackend Create(BackendKind kind, BackendSpec spec)
    {
        var b = base.Create(kind, spec);
        return b is IPipelinedBackend p && kind == BackendKind.Gpu ? new FaultInjectingBackend(p, spec.GpuId, dead) : b;
    }
}

/// <summary>Multi-GPU serving on real GPUs (the means model): run on the GPU machines, skipped here with the reason.</summary>
public class MultiGpuDeviceTests
{
    private static async Task<JsonObject> CreateReady(HttpClient c, ServerFactory f, string name, string repo, JsonNode gpuid)
    {
        var mllib = new JsonObject { ["maxBatchSize"] = 16, ["gpuid"] = gpuid };
        var (code, body) = await Put(c, $"/services/{name}", MeansService(repo, mllib: mllib));
        Assert.True(code == HttpStatusCode.Created, body.ToJsonString());
        return await WaitForReady(c, name);
    }

    // Image i: a uniform colour; the means model returns its B, G, R as the three scores.
    private static async Task PredictChecked(HttpClient c, string service, int i)
    {
        byte r = (byte)(i % 251), g = (byte)(i * 7 % 253), b = (byte)(i * 13 % 255);
        var (code, body) = await Post(c, "/predict", Predict(service, Img.B64(Img.Uniform(r, g, b))));
        Assert.True(code == HttpStatusCode.OK, body.ToJsonString());
        Assert.Equal(b, Prob(body, 0, "chan zero"), 3);
        Assert.Equal(g, Prob(body, 0, "chan one"), 3);
        Assert.Equal(r, Prob(body, 0, "chan two"), 3);
    }

    [GpuFact]
    public async Task AListOfOneOnARealGpuIsTheSingleGpuService()
    {
        using var f = new ServerFactory();
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("one"));
        var dev = CudaDevice.Get(0);
        string plan = PlanFiles.Plan("TRTengine", dev.ComputeCapability.Sm, dev.Name, "fp32", 16);

        var svc = await CreateReady(c, f, "one", repo, new JsonArray(0));
        var reps = svc["replicas"]!.AsArray();
        Assert.Single(reps);
        Assert.Equal((0, dev.Name, "healthy", plan), ((int)reps[0]!["gpu"]!, (string?)reps[0]!["device"], (string?)reps[0]!["state"], (string?)reps[0]!["engine_file"]));
        Assert.Equal(plan, (string?)svc["engine_file"]);
        Assert.Equal("built", (string?)svc["engine_source"]);
        for (int i = 0; i < 5; i++) await PredictChecked(c, "one", i);
        svc = (await Get(c, "/services/one")).body["body"]!.AsObject();
        Assert.Equal(5, (long)svc["service_stats"]!["per_gpu"]![0]!["inference_count"]!);
        // Every batch the GPU ran is timed by stage, each stage took time.
        string metrics = await c.GetStringAsync("/metrics");
        double? batches = Prom.Value(metrics, "trtnative_replica_batches_total", ("service", "one"), ("gpu", "0"));
        Assert.True(batches >= 1, $"replica batches {batches}");
        foreach (var stage in new[] { "host_submit", "gpu_decode", "gpu_prepare", "gpu_engine" })
        {
            Assert.Equal(batches, Prom.Value(metrics, "trtnative_batch_stage_seconds_count", ("service", "one"), ("stage", stage)));
            Assert.True(Prom.Value(metrics, "trtnative_batch_stage_seconds_sum", ("service", "one"), ("stage", stage)) > 0, stage);
        }

        // The same service with gpuid 0 (an int): the same plan file, loaded.
        Assert.Equal(HttpStatusCode.OK, (await Delete(c, "/services/one")).code);
        svc = await CreateReady(c, f, "one", repo, 0);
        Assert.Equal(plan, (string?)svc["engine_file"]);
        Assert.StartsWith("loaded plan", (string?)svc["engine_source"]);
        await PredictChecked(c, "one", 7);
    }

    [MultiGpuFact(2)]
    public async Task EveryGpuReceivesWorkAndEveryRequestGetsItsOwnScores()
    {
        using var f = new ServerFactory();
        var c = f.CreateClient();
        var svc = await CreateReady(c, f, "all", TestModels.MeansRepo(f.Dir.Sub("all")), "all");
        var reps = svc["replicas"]!.AsArray();
        var devices = CudaDevice.All();
        Assert.Equal(devices.Count, reps.Count);
        // Built once per GPU model: the first GPU of each model built, the others loaded its plan.
        var seen = new HashSet<string>();
        for (int i = 0; i < reps.Count; i++)
        {
            string model = $"{devices[i].ComputeCapability.Sm}/{PlanFiles.DeviceTag(devices[i].Name)}";
            string source = (string)reps[i]!["engine_source"]!;
            if (seen.Add(model)) Assert.Equal("built", source);
            else Assert.StartsWith("loaded plan", source);
        }

        await Task.WhenAll(Enumerable.Range(0, 400).Select(i => Task.Run(() => PredictChecked(c, "all", i))));
        svc = (await Get(c, "/services/all")).body["body"]!.AsObject();
        reps = svc["replicas"]!.AsArray();
        Assert.All(reps, r => Assert.True((long)r!["batches"]! > 0, reps.ToJsonString()));
        Assert.Equal(400, reps.Sum(r => (long)r!["images"]!));
    }

    [MultiGpuFact(2)]
    public async Task ALostGpuIsTakenOutTheOthersKeepServingAndARestoreBringsItBack()
    {
        var dead = new ConcurrentDictionary<int, bool>();
        using var f = new ServerFactory
        {
            TestServices = s => s.AddSingleton<BackendFactory>(sp => new FaultyGpuFactory(sp.GetRequiredService<ServerOptions>(), dead)),
        };
        var c = f.CreateClient();
        await CreateReady(c, f, "lost", TestModels.MeansRepo(f.Dir.Sub("lost")), new JsonArray(0, 1));
        dead[0] = true;
        await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(() => PredictChecked(c, "lost", i))));
        var reps = (await Get(c, "/services/lost")).body["body"]!["replicas"]!.AsArray();
        Assert.Equal("failed", (string?)reps[0]!["state"]);
        Assert.Contains("unspecified launch failure", (string?)reps[0]!["error"]);
        Assert.Equal(("healthy", 100L), ((string?)reps[1]!["state"], (long)reps[1]!["images"]!));

        // The restore frees the old engine and makes a new one on GPU 0 (the plan is loaded from the repository).
        dead.TryRemove(0, out _);
        var (rc, rb) = await Post(c, "/services/lost/replicas/restore", new JsonObject());
        Assert.True(rc == HttpStatusCode.OK, rb.ToJsonString());
        var back = rb["body"]!["restored"]![0]!;
        Assert.Equal((0, "healthy"), ((int)back["gpu"]!, (string?)back["state"]));
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() => PredictChecked(c, "lost", i))));
        reps = (await Get(c, "/services/lost")).body["body"]!["replicas"]!.AsArray();
        Assert.True((long)reps[0]!["batches"]! > 0, reps.ToJsonString());
    }
}
