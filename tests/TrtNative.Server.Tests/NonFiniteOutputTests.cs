using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using TrtNative.Server.Inference;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>
/// Per item, scores (first pixel, pixel sum, pixel count); an item whose first pixel is 13 gets a NaN as its second
/// score, 14 an infinity. The first batch waits for <paramref name="firstBatchGate"/> when one is given.
/// </summary>
public sealed class NonFiniteBackend(int max, ManualResetEventSlim? firstBatchGate = null) : IInferenceBackend
{
    private int _runs;
    public List<int> Sizes { get; } = [];
    public ManualResetEventSlim Entered { get; } = new(false);
    public string Kind => "fake-nonfinite";
    public int MaxBatchSize => max;
    public int OutputSize => 3;
    public long DeviceMemoryBytes => 0;
    public float[] Run(IReadOnlyList<PreparedImage> images)
    {
        Entered.Set();
        if (Interlocked.Increment(ref _runs) == 1) firstBatchGate?.Wait(TimeSpan.FromSeconds(30));
        lock (Sizes) Sizes.Add(images.Count);
        var y = new float[images.Count * 3];
        for (int b = 0; b < images.Count; b++)
        {
            var p = images[b].Pixels;
            y[b * 3] = p[0];
            y[b * 3 + 1] = p[0] switch { 13 => float.NaN, 14 => float.PositiveInfinity, _ => p.Sum(v => (float)v) };
            y[b * 3 + 2] = p.Length;
        }
        return y;
    }
    public void Dispose() { }
}

public class NonFiniteOutputTests
{
    [Fact]
    public async Task ANaNFailsOnlyItsOwnRequestAndIsCounted()
    {
        using var gate = new ManualResetEventSlim(false);
        var be = new NonFiniteBackend(max: 8, gate);
        int counted = 0, callbacks = 0;
        await using var q = new DynamicBatcher(be, itemSize: 2, TimeSpan.FromMilliseconds(50), capacity: 100,
            onNonFinite: n => { Interlocked.Add(ref counted, n); Interlocked.Increment(ref callbacks); });
        var blocker = q.SubmitAsync([RecordingBackend.Item(1, 1)]); // first batch, held in Run by the gate
        Assert.True(be.Entered.Wait(TimeSpan.FromSeconds(20)));
        // Queued while the backend is busy, so the next batch holds all three requests.
        var good1 = q.SubmitAsync([RecordingBackend.Item(5, 5), RecordingBackend.Item(6, 1)]);
        var nan = q.SubmitAsync([RecordingBackend.Item(7, 7), RecordingBackend.Item(13, 2)]);
        var good2 = q.SubmitAsync([RecordingBackend.Item(9, 1)]);
        var inf = q.SubmitAsync([RecordingBackend.Item(14, 0)]);
        gate.Set();

        Assert.Equal(new float[] { 1f, 2f, 2f }, (await blocker)[0]);
        var g1 = await good1;
        Assert.Equal(new float[] { 5f, 10f, 2f }, g1[0]);
        Assert.Equal(new float[] { 6f, 7f, 2f }, g1[1]);
        Assert.Equal(new float[] { 9f, 10f, 2f }, (await good2)[0]);
        var e = await Assert.ThrowsAsync<NonFiniteOutputException>(() => nan);
        Assert.Equal(1, e.ItemIndex); // the second image of its request
        Assert.Contains("NaN", e.Message);
        var e2 = await Assert.ThrowsAsync<NonFiniteOutputException>(() => inf);
        Assert.Equal(0, e2.ItemIndex);
        Assert.Contains("Infinity", e2.Message);
        Assert.Equal([1, 6], be.Sizes); // the bad items shared their batch with the good ones
        Assert.Equal(2, counted);
        Assert.Equal(1, callbacks); // one report for the batch
    }
}

public sealed class NonFiniteServerFactory : ServerFactory
{
    public NonFiniteBackend Backend { get; } = new(16);
    public NonFiniteServerFactory() =>
        TestServices = s => s.AddSingleton<BackendFactory>(sp => new FixedBackendFactory(sp.GetRequiredService<ServerOptions>(), Backend));
}

/// <summary>Hands out one given backend for every service.</summary>
internal sealed class FixedBackendFactory(ServerOptions o, IInferenceBackend be) : BackendFactory(o)
{
    public override IInferenceBackend Create(BackendKind kind, BackendSpec spec) => be;
}

public class NonFiniteServerTests(NonFiniteServerFactory f) : IClassFixture<NonFiniteServerFactory>
{
    [Fact]
    public async Task ThePredictGets500WithTheImageNamedOthersSucceedAndTheMetricCounts()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("nan"));
        var (code, _) = await Put(c, "/services/nan", MeansService(repo));
        Assert.Equal(HttpStatusCode.Created, code);
        // Concurrent requests: the bad one may share a batch with good ones; only it fails.
        var tasks = Enumerable.Range(0, 12).Select(i => Task.Run(async () =>
        {
            byte v = (byte)(i == 5 ? 13 : 20 + i);
            return (i, await Post(c, "/predict", Predict("nan", Img.B64(Img.Uniform(v, v, v)))));
        })).ToArray();
        foreach (var (i, (rc, body)) in await Task.WhenAll(tasks))
        {
            if (i == 5)
            {
                Assert.Equal((HttpStatusCode.InternalServerError, 1007), (rc, DdCode(body)));
                string msg = (string?)body["status"]!["dd_msg"] ?? "";
                Assert.Contains("non-finite model output", msg);
                Assert.Contains("image '0'", msg); // the base64 image's uri
                Assert.Null(body["body"]);
            }
            else
            {
                Assert.Equal(HttpStatusCode.OK, rc);
                Assert.Equal(20 + i, Prob(body, 0, "chan zero"), 4);
            }
        }
        string metrics = await c.GetStringAsync("/metrics");
        Assert.Contains("# TYPE trtnative_nonfinite_outputs_total counter", metrics);
        Assert.Equal(1, Prom.Value(metrics, "trtnative_nonfinite_outputs_total", ("service", "nan")));
        var (_, svc) = await Get(c, "/services/nan");
        var st = svc["body"]!["service_stats"]!;
        Assert.Equal(1, (long)st["predict_failure"]!);
        Assert.Equal(11, (long)st["predict_success"]!);
    }
}
