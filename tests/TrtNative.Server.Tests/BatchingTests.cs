using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using TrtNative.Server.Inference;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>A backend that returns, per item, the sum and first value of its pixel bytes, and records batch sizes.</summary>
internal sealed class RecordingBackend(int max, int delayMs = 0, ManualResetEventSlim? gate = null) : IInferenceBackend
{
    public List<int> Sizes { get; } = [];
    public ManualResetEventSlim Entered { get; } = new(false);
    public string Kind => "fake";
    public int MaxBatchSize => max;
    public int OutputSize => 2;
    public long DeviceMemoryBytes => 0;
    public float[] Run(IReadOnlyList<PreparedImage> images)
    {
        Entered.Set();
        gate?.Wait(TimeSpan.FromSeconds(30));
        lock (Sizes) Sizes.Add(images.Count);
        if (delayMs > 0) Thread.Sleep(delayMs);
        var y = new float[images.Count * 2];
        for (int b = 0; b < images.Count; b++)
        {
            y[b * 2] = images[b].Pixels.Sum(v => (float)v);
            y[b * 2 + 1] = images[b].Pixels[0];
        }
        return y;
    }
    public void Dispose() { }

    /// <summary>An item whose pixels are <paramref name="values"/> (one grey channel, no normalisation).</summary>
    public static PreparedImage Item(params byte[] values) => new(values, new TrtNative.Runtime.ImageNormalization(1));
}

/// <summary>
/// A pipelined backend (sum and first pixel per item, like <see cref="RecordingBackend"/>) that logs Submit ("S1") and
/// Complete ("C1") calls and fails a Submit that would put more than <paramref name="depth"/> batches in flight (its
/// <see cref="IPipelinedBackend.MaxInFlight"/>); the first Submit waits for
/// <paramref name="firstSubmitGate"/> when one is given. Without <paramref name="runMs"/> a batch cannot tell whether
/// it is done (<see cref="IPendingBatch.IsDone"/> null) and Complete takes 5 ms; with it, each batch's "device work"
/// takes <paramref name="runMs"/> from its Submit, IsDone reports when it is over and Complete waits for that.
/// </summary>
internal sealed class PipelinedRecordingBackend(int max, ManualResetEventSlim? firstSubmitGate = null, int? runMs = null, int depth = 2) : IPipelinedBackend
{
    private readonly RecordingBackend _inner = new(max);
    private readonly int? _runMs = runMs;
    private int _submitted, _inFlight;
    public List<string> Log { get; } = [];
    public string Kind => "fake-pipelined";
    public int MaxBatchSize => max;
    public int OutputSize => 2;
    public long DeviceMemoryBytes => 0;
    public int MaxInFlight => depth;
    public float[] Run(IReadOnlyList<PreparedImage> images) => Submit(images).Complete();
    public IPendingBatch Submit(IReadOnlyList<PreparedImage> images)
    {
        if (Interlocked.Increment(ref _inFlight) > depth) throw new InvalidOperationException($"more than {depth} batches in flight");
        int k = Interlocked.Increment(ref _submitted);
        if (k == 1) firstSubmitGate?.Wait(TimeSpan.FromSeconds(30));
        lock (Log) Log.Add($"S{k}");
        var y = _inner.Run(images.ToList()); // computed now: the images may be reused after Submit returns
        return new Pending(this, k, y, System.Diagnostics.Stopwatch.StartNew());
    }
    private sealed class Pending(PipelinedRecordingBackend owner, int k, float[] y, System.Diagnostics.Stopwatch clock) : IPendingBatch
    {
        public bool? IsDone => owner._runMs is { } ms ? clock.ElapsedMilliseconds >= ms : null;
        public float[] Complete()
        {
            if (owner._runMs is null) Thread.Sleep(5); // the "device" is still busy
            else while (IsDone != true) Thread.Sleep(1);
            lock (owner.Log) owner.Log.Add($"C{k}");
            Interlocked.Decrement(ref owner._inFlight);
            return y;
        }
    }
    public void Dispose() { }
}

public class DynamicBatcherTests
{
    [Fact]
    public async Task ConcurrentItemsAreMergedAndEachGetsItsOwnResult()
    {
        var be = new RecordingBackend(max: 8, delayMs: 5);
        await using var q = new DynamicBatcher(be, itemSize: 3, maxDelay: TimeSpan.FromMilliseconds(30), capacity: 1000);
        var tasks = Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            q.SubmitAsync([RecordingBackend.Item((byte)i, 1, 1), RecordingBackend.Item((byte)(i + 100), 0, 0)]))).ToArray();
        var results = await Task.WhenAll(tasks);
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal([i + 2f, i], results[i][0]);
            Assert.Equal([i + 100f, i + 100], results[i][1]);
        }
        Assert.All(be.Sizes, s => Assert.InRange(s, 1, 8));
        Assert.Equal(80, be.Sizes.Sum());
        Assert.True(be.Sizes.Count < 40, $"expected merging, got {be.Sizes.Count} batches: {string.Join(",", be.Sizes)}");
    }

    [Fact]
    public async Task APipelinedBackendGetsTheNextBatchBeforeThePreviousIsCompleted()
    {
        using var gate = new ManualResetEventSlim(false);
        var be = new PipelinedRecordingBackend(max: 2, gate);
        await using var q = new DynamicBatcher(be, 1, TimeSpan.FromMilliseconds(5), 100);
        // One request with six images, all queued before the first batch is submitted (the gate holds it), so batches
        // 2 and 3 are submitted while 1 and 2 are still in flight.
        var pending = q.SubmitAsync(Enumerable.Range(1, 6).Select(i => RecordingBackend.Item((byte)(10 * i))).ToList());
        gate.Set();
        var r = await pending;
        Assert.Equal(Enumerable.Range(1, 6).Select(i => 10f * i), r.Select(x => x[0]));
        Assert.Equal(["S1", "S2", "C1", "S3", "C2", "C3"], be.Log);
        // A lone image afterwards is delivered at once, not held until a next batch comes.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(7f, (await q.SubmitAsync([RecordingBackend.Item(7)]))[0][0]);
        Assert.InRange(sw.ElapsedMilliseconds, 0, 5000);
        Assert.Equal(["S4", "C4"], be.Log.Skip(6));
    }

    [Fact]
    public async Task ABackendWithThreeBatchesInFlightGetsTheThirdBeforeTheFirstIsCompleted()
    {
        using var gate = new ManualResetEventSlim(false);
        var be = new PipelinedRecordingBackend(max: 1, gate, depth: 3);
        await using var q = new DynamicBatcher(be, 1, TimeSpan.FromMilliseconds(5), 100);
        // Six one-image batches, all queued before the first is submitted: three are submitted before the first is
        // completed, then each completion makes room for one more, and they are delivered in order.
        var pending = q.SubmitAsync(Enumerable.Range(1, 6).Select(i => RecordingBackend.Item((byte)(10 * i))).ToList());
        gate.Set();
        var r = await pending;
        Assert.Equal(Enumerable.Range(1, 6).Select(i => 10f * i), r.Select(x => x[0]));
        Assert.Equal(["S1", "S2", "S3", "C1", "S4", "C2", "S5", "C3", "S6", "C4", "C5", "C6"], be.Log);
    }

    private static bool Logged(PipelinedRecordingBackend be, string entry)
    {
        lock (be.Log) return be.Log.Contains(entry);
    }

    [Fact]
    public async Task ABatchFormedWhileAnotherRunsIsStagedBeforeThatOneIsDelivered()
    {
        // Nothing is queued while the first batch runs, so the worker does not wait for a next batch; one formed
        // during the run is still staged before the first is delivered, and each is delivered once it is done.
        var be = new PipelinedRecordingBackend(max: 4, runMs: 300);
        await using var q = new DynamicBatcher(be, 1, TimeSpan.FromMilliseconds(1), 100);
        var first = q.SubmitAsync([RecordingBackend.Item(1)]);
        while (!Logged(be, "S1")) await Task.Delay(1);
        var second = q.SubmitAsync([RecordingBackend.Item(2)]);
        Assert.Equal(1f, (await first)[0][0]);
        Assert.Equal(2f, (await second)[0][0]);
        Assert.Equal(["S1", "S2", "C1", "C2"], be.Log);
        // A lone item afterwards is delivered once it is done, without waiting for company.
        Assert.Equal(7f, (await q.SubmitAsync([RecordingBackend.Item(7)]))[0][0]);
        Assert.Equal(["S3", "C3"], be.Log.Skip(4));
    }

    [Fact]
    public async Task ALoneItemGoesStraightThroughWhenNothingElseIsExpected()
    {
        var be = new RecordingBackend(max: 32);
        await using var q = new DynamicBatcher(be, 1, TimeSpan.FromSeconds(10), 100);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = await q.SubmitAsync([RecordingBackend.Item(7)]);
        Assert.Equal(7f, r[0][0]);
        Assert.InRange(sw.ElapsedMilliseconds, 0, 5000); // far below the 10 s delay
        Assert.Equal([1], be.Sizes);
    }

    [Fact]
    public async Task AnnouncedImagesAreWaitedFor()
    {
        var be = new RecordingBackend(max: 32);
        await using var q = new DynamicBatcher(be, 1, TimeSpan.FromSeconds(10), 100);
        // A second request announced its image: the first waits for it, and both run in one batch as soon as it is
        // submitted (its expectation is handed over, so the loop does not wait out the delay).
        var later = q.Expect(1);
        var first = q.SubmitAsync([RecordingBackend.Item(1)]);
        await Task.Delay(50);
        Assert.False(first.IsCompleted);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var second = q.SubmitAsync([RecordingBackend.Item(2)], later);
        Assert.Equal(1f, (await first)[0][0]);
        Assert.Equal(2f, (await second)[0][0]);
        Assert.InRange(sw.ElapsedMilliseconds, 0, 5000); // far below the 10 s delay
        Assert.Equal([2], be.Sizes);
    }

    [Fact]
    public async Task AnAnnouncementThatNeverComesDelaysABatchAtMostTheDelay()
    {
        var be = new RecordingBackend(max: 32);
        await using var q = new DynamicBatcher(be, 1, TimeSpan.FromMilliseconds(300), 100);
        using var never = q.Expect(1);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(3f, (await q.SubmitAsync([RecordingBackend.Item(3)]))[0][0]);
        Assert.InRange(sw.ElapsedMilliseconds, 250, 5000);
        Assert.Equal([1], be.Sizes);
    }

    [Fact]
    public async Task ItemsOfABatchBeingFormedWhenTheQueueIsDisposedStillComplete()
    {
        // The loop holds a formed batch's items out of the queue while it waits for announced ones; a dispose that lands
        // while it is between taking an item and waiting again must not drop them (their requests would never answer).
        // The window is narrow, so the dispose is tried at that point many times.
        for (int round = 0; round < 50; round++)
        {
            var be = new RecordingBackend(max: 32);
            var q = new DynamicBatcher(be, 1, TimeSpan.FromSeconds(30), 100);
            using var announced = q.Expect(1);  // keeps the loop waiting for company after each item
            var first = q.SubmitAsync([RecordingBackend.Item(1)]);
            await Task.Delay(10);  // the loop has taken it and waits for the announced image
            var second = q.SubmitAsync([RecordingBackend.Item(2)]);  // wakes the loop, which takes it and waits again
            var disposed = q.DisposeAsync().AsTask();
            foreach (var (t, name) in new[] { (first, "first"), (second, "second") })
            {
                var finished = await Task.WhenAny(t, Task.Delay(TimeSpan.FromSeconds(10)));
                Assert.True(finished == t, $"round {round}: the {name} item never completed after the dispose");
                // Run before the loop stopped, or refused as deleted: either is an answer.
                if (t.IsFaulted) Assert.IsType<ObjectDisposedException>(t.Exception!.InnerException);
            }
            await disposed;
        }
    }

    [Fact]
    public async Task FullQueueRefusesAndBackendErrorsReachTheirItems()
    {
        using var gate = new ManualResetEventSlim(false);
        var be = new RecordingBackend(max: 1, gate: gate);
        await using var q = new DynamicBatcher(be, 1, TimeSpan.Zero, capacity: 2);
        var first = q.SubmitAsync([RecordingBackend.Item(1)]);   // taken by the loop, blocked in Run
        Assert.True(be.Entered.Wait(TimeSpan.FromSeconds(20)));
        var queued = q.SubmitAsync([RecordingBackend.Item(2), RecordingBackend.Item(3)]); // fills the 2 slots
        Assert.Throws<QueueFullException>(() => { _ = q.SubmitAsync([RecordingBackend.Item(4)]); });
        gate.Set();
        Assert.Equal(1f, (await first)[0][0]);
        Assert.Equal(3f, (await queued)[1][0]);
    }
}

public sealed class BatchingFactory : ServerFactory
{
    public BatchingFactory() => Settings["TrtNative:MaxBatchDelayMs"] = "25";
}

public class ServerBatchingTests(BatchingFactory f) : IClassFixture<BatchingFactory>
{
    [Fact]
    public async Task ManySimultaneousPredictsGetTheirOwnResults()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("conc"));
        var (code, _) = await Put(c, "/services/conc", MeansService(repo, mllib: new JsonObject { ["maxBatchSize"] = 8 }));
        Assert.Equal(HttpStatusCode.Created, code);
        // Predicts wait for a build only BuildWaitSeconds (then 409/1008, as DeepDetect): this test is about batching.
        await WaitForReady(c, "conc");
        const int n = 48;
        var tasks = Enumerable.Range(0, n).Select(i => Task.Run(async () =>
        {
            int k = 1 + i % 3; // 1..3 images per request, each with its own colour
            var imgs = Enumerable.Range(0, k).Select(j => Img.B64(Img.Uniform((byte)i, (byte)(j * 50), (byte)(255 - i)))).ToArray();
            var (rc, body) = await Post(c, "/predict", Predict("conc", imgs));
            return (i, k, rc, body);
        })).ToArray();
        foreach (var (i, k, rc, body) in await Task.WhenAll(tasks))
        {
            Assert.Equal(HttpStatusCode.OK, rc);
            var preds = body["body"]!["predictions"]!.AsArray();
            Assert.Equal(k, preds.Count);
            for (int j = 0; j < k; j++)
            {
                Assert.Equal(j.ToString(), (string?)preds[j]!["uri"]);
                Assert.Equal(255 - i, Prob(body, j, "chan zero"), 4); // B
                Assert.Equal(j * 50, Prob(body, j, "chan one"), 4);   // G
                Assert.Equal(i, Prob(body, j, "chan two"), 4);        // R
            }
        }
        var (_, svc) = await Get(c, "/services/conc");
        var st = svc["body"]!["service_stats"]!;
        Assert.Equal(96, (int)st["inference_count"]!); // 16 × (1 + 2 + 3)
        Assert.True((double)st["avg_engine_batch_size"]! > 1.0, st.ToJsonString());
        string metrics = await c.GetStringAsync("/metrics");
        // No batch above maxBatchSize: the le="8" bucket holds every batch.
        var le8 = Prom.Value(metrics, "trtnative_batch_size_bucket", ("service", "conc"), ("le", "8"));
        var all = Prom.Value(metrics, "trtnative_batch_size_count", ("service", "conc"));
        Assert.NotNull(all);
        Assert.Equal(all, le8);
        Assert.Equal((long)st["engine_batches"]!, (long)all!.Value);
    }

    [Fact]
    public async Task FixedBatchModelRunsMultiImageRequests()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("fixed1"), batch: 1);
        var (code, _) = await Put(c, "/services/fixed1", MeansService(repo));
        Assert.Equal(HttpStatusCode.Created, code);
        var (rc, body) = await Post(c, "/predict", Predict("fixed1", Img.B64(Img.Uniform(0, 0, 9)), Img.B64(Img.Uniform(0, 0, 19))));
        Assert.Equal(HttpStatusCode.OK, rc);
        Assert.Equal(9.0, Prob(body, 0, "chan zero"), 4);
        Assert.Equal(19.0, Prob(body, 1, "chan zero"), 4);
    }

    [Fact]
    public void CpuBackendLearnsASymbolicClassCountOfAFixedBatchModel()
    {
        // Batch fixed at 2, class count symbolic: the backend learns the count from one run, which must feed the
        // model a whole fixed batch.
        string repo = TestModels.MeansRepo(f.Dir.Sub("fixed2"), batch: 2, symbolicClasses: true);
        string model = Path.Combine(repo, "means.onnx");
        var spec = new BackendSpec(model, repo, ModelInfo.Read(model), 3, 4, 4, 8, "fp32", 0, 0, "TRTengine",
            ReadEngine: false, WriteEngine: false, CpuThreads: 1);
        using var cpu = new OnnxRuntimeBackend(spec);
        Assert.Equal(2, cpu.MaxBatchSize);
        Assert.Equal(3, cpu.OutputSize);
        var pixels = Enumerable.Range(0, 16).SelectMany(_ => new byte[] { 10, 20, 30 }).ToArray();
        var scores = cpu.Run([new PreparedImage(pixels, new TrtNative.Runtime.ImageNormalization(3))]);
        Assert.Equal(new float[] { 10, 20, 30 }, scores);
    }
}

/// <summary>A factory whose builds wait for a gate, to observe the "building" state.</summary>
internal sealed class GatedFactory(ServerOptions o, ManualResetEventSlim gate) : BackendFactory(o)
{
    public override IInferenceBackend Create(BackendKind kind, BackendSpec spec)
    {
        gate.Wait(TimeSpan.FromSeconds(60));
        return base.Create(kind, spec);
    }
}

public sealed class SlowBuildFactory : ServerFactory
{
    public ManualResetEventSlim Gate { get; } = new(false);
    public SlowBuildFactory()
    {
        Settings["TrtNative:BuildWaitSeconds"] = "0.3";
        Settings["TrtNative:CreateWaitSeconds"] = "0"; // creation answers while the gate holds the build
        TestServices = s => s.AddSingleton<BackendFactory>(sp => new GatedFactory(sp.GetRequiredService<ServerOptions>(), Gate));
    }
}

public class BuildStateTests(SlowBuildFactory f) : IClassFixture<SlowBuildFactory>
{
    [Fact]
    public async Task PredictDuringBuildIs409_1008ThenSucceeds()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("slow"));
        var (code, _) = await Put(c, "/services/slow", MeansService(repo));
        Assert.Equal(HttpStatusCode.Created, code); // creation does not wait for the build
        var (_, svc) = await Get(c, "/services/slow");
        Assert.Equal("building", (string?)svc["body"]!["state"]);
        var (pc, body) = await Post(c, "/predict", Predict("slow", Img.B64(Img.Uniform(1, 2, 3))));
        Assert.Equal((HttpStatusCode.Conflict, 1008), (pc, DdCode(body)));
        Assert.Contains("still being built", (string?)body["status"]!["dd_msg"]);
        f.Gate.Set();
        await WaitForReady(c, "slow");
        (pc, body) = await Post(c, "/predict", Predict("slow", Img.B64(Img.Uniform(1, 2, 3))));
        Assert.Equal(HttpStatusCode.OK, pc);
        Assert.Equal(3.0, Prob(body, 0, "chan zero"), 4);
    }
}
