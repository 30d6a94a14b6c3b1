using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace TrtNative.Sample.LoadGen;

/// <summary>
/// Drives a DeepDetect-compatible server: makes sure the service exists and is ready, compares it with a reference
/// service when asked (<see cref="LoadGenOptions.ReferenceService"/>), then for each concurrency level runs that many
/// clients, each sending <c>POST /predict</c> back to back over keep-alive connections (warm-up first, unmeasured), and
/// reads the server's batch counters before and after the measured part.
/// </summary>
internal sealed class LoadGenerator : IDisposable
{
    private readonly LoadGenOptions _o;
    private readonly HttpClient _http;
    private readonly Action<string> _log;
    private readonly Uri _predict, _service, _metrics;
    private static readonly MediaTypeHeaderValue JsonType = new("application/json");

    /// <param name="options">The run.</param>
    /// <param name="log">Progress lines (null: none).</param>
    public LoadGenerator(LoadGenOptions options, Action<string>? log = null)
    {
        _o = options;
        _log = log ?? (_ => { });
        var handler = new SocketsHttpHandler
        {
            // One connection per client: a level's clients never wait for each other on the client side.
            MaxConnectionsPerServer = Math.Max(1, options.Concurrency.Max()),
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
        _http = new HttpClient(handler) { Timeout = options.RequestTimeout };
        _predict = new Uri(options.Server, "/predict");
        _service = ServiceUri(options.Service);
        _metrics = new Uri(options.Server, "/metrics");
    }

    /// <summary>
    /// Runs every level with <paramref name="images"/> and returns the report. A missing or failed service, or a
    /// reference comparison that cannot be made, is an <see cref="InvalidOperationException"/> before any level.
    /// </summary>
    public async Task<LoadReport> RunAsync(IReadOnlyList<LoadImage> images, CancellationToken ct = default)
    {
        if (images.Count == 0) throw new ArgumentException("no images to send", nameof(images));
        if (_o.ImagesPerRequest < 1) throw new ArgumentException("images per request must be >= 1");
        string started = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";
        var svc = await EnsureServiceAsync(_o.Service, _o.CreateBody, ct);
        var accuracy = _o.ReferenceService is { } reference ? await CompareWithReferenceAsync(reference, images, ct) : null;
        var bodies = Bodies(images);
        _log($"{bodies.Length} request bodies of {_o.ImagesPerRequest} image(s), {bodies.Sum(b => (long)b.Length) / bodies.Length} bytes on average");
        var levels = new List<LevelResult>();
        foreach (int c in _o.Concurrency)
        {
            if (_o.Warmup > TimeSpan.Zero) await PhaseAsync(c, bodies, _o.Warmup, 0, ct);
            var before = await ServerCountersAsync(ct);
            string? metricsBefore = await MetricsTextAsync(ct);
            var phase = await PhaseAsync(c, bodies, _o.Duration, _o.MaxRequestsPerLevel, ct);
            var after = await ServerCountersAsync(ct);
            string? metricsAfter = await MetricsTextAsync(ct);
            var level = phase.Result(c, _o.ImagesPerRequest, Difference(before, after));
            if (metricsBefore is not null && metricsAfter is not null)
                level.Stages = ServerStages.Between(metricsBefore, metricsAfter, _o.Service.ToLowerInvariant(), phase.Seconds);
            _log($"{c} clients: {level.ImagesPerSecond:F1} images/s, p50 {level.LatencyMs?.P50:F2} ms, p99 {level.LatencyMs?.P99:F2} ms, " +
                 $"{level.Errors} errors, avg batch {level.Server.AvgBatchSize:F2}");
            levels.Add(level);
        }
        var sizes = images.GroupBy(i => (i.Width, i.Height)).Select(g => $"{g.Count()}x {g.Key.Width}x{g.Key.Height}");
        return new LoadReport(_o.Server.ToString(), _o.Service.ToLowerInvariant(), (string?)svc["backend"], _o.Base64 ? "base64" : "path",
            _o.ImagesPerRequest, images.Count, string.Join(", ", sizes), started, levels) { Accuracy = accuracy };
    }

    // ---- the service --------------------------------------------------------------------------------------------

    private Uri ServiceUri(string name) => new(_o.Server, "/services/" + Uri.EscapeDataString(name.ToLowerInvariant()));

    /// <summary>
    /// Creates service <paramref name="name"/> when it is missing and <paramref name="createBody"/> is given (else a
    /// missing service is an error), then waits until it is no longer building.
    /// </summary>
    private async Task<JsonObject> EnsureServiceAsync(string name, JsonObject? createBody, CancellationToken ct)
    {
        var uri = ServiceUri(name);
        var (code, body) = await GetServiceAsync(uri, ct);
        if (code == HttpStatusCode.NotFound)
        {
            if (createBody is null) throw new InvalidOperationException($"service '{name}' does not exist on {_o.Server} and no creation body was given");
            using var put = await _http.PutAsync(uri, new StringContent(createBody.ToJsonString(), Encoding.UTF8, "application/json"), ct);
            string answer = await put.Content.ReadAsStringAsync(ct);
            if (put.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"PUT {uri} answered {(int)put.StatusCode}: {answer}");
            _log($"created service '{name}'");
            (code, body) = await GetServiceAsync(uri, ct);
        }
        var sw = Stopwatch.StartNew();
        while (code == HttpStatusCode.OK && (string?)body?["state"] == "building" && sw.Elapsed < _o.ReadyTimeout)
        {
            await Task.Delay(200, ct);
            (code, body) = await GetServiceAsync(uri, ct);
        }
        if (code != HttpStatusCode.OK || body is null) throw new InvalidOperationException($"GET {uri} answered {(int)code}");
        string? state = (string?)body["state"];
        if (state is not (null or "ready"))
            throw new InvalidOperationException($"service '{name}' is {state} after {sw.Elapsed.TotalSeconds:F0} s: {(string?)body["error"]}");
        _log($"service '{name}' ready: backend {(string?)body["backend"] ?? "?"}");
        return body;
    }

    private Task<(HttpStatusCode, JsonObject?)> GetServiceAsync(CancellationToken ct) => GetServiceAsync(_service, ct);

    private async Task<(HttpStatusCode, JsonObject?)> GetServiceAsync(Uri service, CancellationToken ct)
    {
        using var r = await _http.GetAsync(service + "?labels=false", ct);
        var text = await r.Content.ReadAsStringAsync(ct);
        return (r.StatusCode, r.StatusCode == HttpStatusCode.OK ? JsonNode.Parse(text)?["body"] as JsonObject : null);
    }

    // The server's /metrics text, or null when it has none (an older server, or a server without the endpoint).
    private async Task<string?> MetricsTextAsync(CancellationToken ct)
    {
        using var r = await _http.GetAsync(_metrics, ct);
        return r.StatusCode == HttpStatusCode.OK ? await r.Content.ReadAsStringAsync(ct) : null;
    }

    // Cumulative server counters at one moment.
    private sealed record Counters(long? Batches, long? BatchedImages, long? InferenceCount, string Source);

    /// <summary>
    /// service_stats.engine_batches and avg_engine_batch_size (× batches = images), else /metrics'
    /// trtnative_batch_size_count and _sum for the service; inference_count from service_stats.
    /// </summary>
    private async Task<Counters> ServerCountersAsync(CancellationToken ct)
    {
        var (code, body) = await GetServiceAsync(ct);
        var st = code == HttpStatusCode.OK ? body?["service_stats"] : null;
        long? inference = (long?)st?["inference_count"];
        if (st?["engine_batches"] is JsonNode nb && st["avg_engine_batch_size"] is JsonNode avg)
        {
            long batches = (long)nb;
            return new Counters(batches, (long)Math.Round((double)avg * batches), inference, "service_stats");
        }
        string metrics = await _http.GetStringAsync(_metrics, ct);
        string svc = Regex.Escape(_o.Service.ToLowerInvariant());
        var count = Regex.Match(metrics, "^trtnative_batch_size_count\\{service=\"" + svc + "\"\\} (\\S+)$", RegexOptions.Multiline);
        var sum = Regex.Match(metrics, "^trtnative_batch_size_sum\\{service=\"" + svc + "\"\\} (\\S+)$", RegexOptions.Multiline);
        if (count.Success && sum.Success)
            return new Counters((long)double.Parse(count.Groups[1].Value, CultureInfo.InvariantCulture),
                (long)Math.Round(double.Parse(sum.Groups[1].Value, CultureInfo.InvariantCulture)), inference, "metrics");
        // No batch recorded yet for the service: zero so far, if the server has the metric at all.
        return metrics.Contains("trtnative_batch_size", StringComparison.Ordinal)
            ? new Counters(0, 0, inference, "metrics") : new Counters(null, null, inference, "none");
    }

    private static ServerSide Difference(Counters a, Counters b)
    {
        long? batches = b.Batches - a.Batches, images = b.BatchedImages - a.BatchedImages;
        double? avg = batches > 0 ? Math.Round((double)images!.Value / batches.Value, 3) : null;
        return new ServerSide(batches, images, avg, b.InferenceCount - a.InferenceCount, b.Source);
    }

    // ---- the reference service ----------------------------------------------------------------------------------

    /// <summary>
    /// Each image once on the measured service and once on <paramref name="reference"/> (one image per predict, sent
    /// as the levels send it, every class), compared by <see cref="ReferenceAccuracy.Compare"/>. The reference must
    /// exist: it is waited for while it builds, never created.
    /// </summary>
    private async Task<AccuracyReport> CompareWithReferenceAsync(string reference, IReadOnlyList<LoadImage> images, CancellationToken ct)
    {
        string what = $"accuracy vs reference service '{reference}'";
        var (code, _) = await GetServiceAsync(ServiceUri(reference), ct);
        if (code == HttpStatusCode.NotFound)
            throw new InvalidOperationException($"{what}: the service does not exist on {_o.Server} (--reference-service is never created: create it first)");
        try
        {
            await EnsureServiceAsync(reference, createBody: null, ct);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"{what}: {e.Message}", e);
        }
        var perImage = new List<ImageAccuracy>(images.Count);
        foreach (var img in images)
        {
            var measured = await AllClassesAsync(_o.Service, img, what, ct);
            var expected = await AllClassesAsync(reference, img, what, ct);
            ImageAccuracy a;
            try
            {
                a = ReferenceAccuracy.Compare(img.Path, measured, expected);
            }
            catch (InvalidOperationException e)
            {
                throw new InvalidOperationException($"{what}: {e.Message}", e);
            }
            _log(string.Create(CultureInfo.InvariantCulture,
                $"accuracy {Path.GetFileName(img.Path)}: top-1 {a.Top1} ({a.Top1Prob:G4}) vs {a.ReferenceTop1} ({a.ReferenceTop1Prob:G4}), rel L2 {a.RelL2:G3}"));
            perImage.Add(a);
        }
        var report = AccuracyReport.Of(reference.ToLowerInvariant(), perImage);
        _log(report.Line());
        return report;
    }

    /// <summary>Every class <paramref name="service"/> gives <paramref name="img"/> (output.best -1, no threshold); a failure names the service and the image.</summary>
    private async Task<List<ClassScore>> AllClassesAsync(string service, LoadImage img, string what, CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["service"] = service,
            // best -1: every class (DeepDetect's "all"); the lowest threshold keeps negative scores (logits) too.
            ["parameters"] = new JsonObject { ["output"] = new JsonObject { ["best"] = -1, ["confidence_threshold"] = double.MinValue } },
            ["data"] = new JsonArray(_o.Base64 ? Convert.ToBase64String(img.Bytes) : img.Path),
        };
        string where = $"{what}: predict of {img.Path} on service '{service}'";
        try
        {
            using var r = await _http.PostAsync(_predict, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"), ct);
            var answer = await r.Content.ReadAsByteArrayAsync(ct);
            if (r.StatusCode != HttpStatusCode.OK)
            {
                var (dd, msg) = Status(answer);
                throw new InvalidOperationException($"{where} answered {(int)r.StatusCode}{(dd > 0 ? $"/{dd}" : "")}: " +
                                                    (msg ?? Encoding.UTF8.GetString(answer.AsSpan(0, Math.Min(answer.Length, 300)))));
            }
            return ReferenceAccuracy.Classes(JsonNode.Parse(answer));
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            throw new InvalidOperationException($"{where}: unexpected answer: {e.Message}", e);
        }
        catch (HttpRequestException e)
        {
            throw new InvalidOperationException($"{where}: {e.Message}", e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new InvalidOperationException($"{where}: no answer in {_o.RequestTimeout.TotalSeconds:F0} s", e);
        }
    }

    // ---- the load -----------------------------------------------------------------------------------------------

    /// <summary>One predict body per image (the next images fill a multi-image request), as UTF-8 JSON.</summary>
    private byte[][] Bodies(IReadOnlyList<LoadImage> images)
    {
        var bodies = new byte[images.Count][];
        for (int k = 0; k < images.Count; k++)
        {
            using var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                w.WriteString("service", _o.Service);
                w.WriteStartObject("parameters");
                w.WriteStartObject("output");
                w.WriteNumber("best", _o.Best);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteStartArray("data");
                for (int j = 0; j < _o.ImagesPerRequest; j++)
                {
                    var img = images[(k + j) % images.Count];
                    if (_o.Base64) w.WriteBase64StringValue(img.Bytes);
                    else w.WriteStringValue(img.Path);
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            bodies[k] = ms.ToArray();
        }
        return bodies;
    }

    // What one phase (warm-up or measured) collected.
    private sealed class Phase
    {
        public long Issued, Succeeded, Failed, Next;
        public double Seconds;
        public readonly List<double>[] Latencies;
        public readonly Dictionary<string, (long Count, string First)> Errors = new(StringComparer.Ordinal);
        public Phase(int clients) => Latencies = Enumerable.Range(0, clients).Select(_ => new List<double>()).ToArray();

        public void Error(string kind, string message)
        {
            Interlocked.Increment(ref Failed);
            lock (Errors) Errors[kind] = Errors.TryGetValue(kind, out var e) ? (e.Count + 1, e.First) : (1, message);
        }

        public LevelResult Result(int clients, int perRequest, ServerSide server)
        {
            var all = Latencies.SelectMany(l => l).ToList();
            long requests = Succeeded + Failed, images = Succeeded * perRequest;
            return new LevelResult(clients, Math.Round(Seconds, 3), requests, Succeeded, images, Failed,
                Errors.ToDictionary(e => e.Key, e => new ErrorKind(e.Value.Count, e.Value.First)),
                Math.Round(images / Seconds, 1), Math.Round(requests / Seconds, 1), LatencyMs.Of(all), server);
        }
    }

    private async Task<Phase> PhaseAsync(int clients, byte[][] bodies, TimeSpan duration, long maxRequests, CancellationToken ct)
    {
        var p = new Phase(clients);
        var sw = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, clients).Select(k => Task.Run(async () =>
        {
            var lat = p.Latencies[k];
            while (sw.Elapsed < duration && !ct.IsCancellationRequested)
            {
                if (maxRequests > 0 && Interlocked.Increment(ref p.Issued) > maxRequests) break;
                var body = bodies[(int)((ulong)Interlocked.Increment(ref p.Next) % (ulong)bodies.Length)];
                long t0 = Stopwatch.GetTimestamp();
                string? error = await PredictOnceAsync(body, p, ct);
                if (error is null) lat.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        }, ct)).ToArray();
        await Task.WhenAll(workers);
        p.Seconds = sw.Elapsed.TotalSeconds;
        return p;
    }

    /// <summary>One predict; null when it succeeded with one prediction per image, else the error kind (counted in <paramref name="p"/>).</summary>
    private async Task<string?> PredictOnceAsync(byte[] body, Phase p, CancellationToken ct)
    {
        string kind;
        try
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = JsonType;
            using var r = await _http.PostAsync(_predict, content, ct);
            var answer = await r.Content.ReadAsByteArrayAsync(ct);
            if (r.StatusCode == HttpStatusCode.OK && Predictions(answer) == _o.ImagesPerRequest)
            {
                Interlocked.Increment(ref p.Succeeded);
                return null;
            }
            var (dd, msg) = Status(answer);
            kind = r.StatusCode == HttpStatusCode.OK ? "wrong prediction count" : $"http {(int)r.StatusCode}" + (dd > 0 ? $"/{dd}" : "");
            p.Error(kind, msg ?? Encoding.UTF8.GetString(answer.AsSpan(0, Math.Min(answer.Length, 300))));
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            p.Error(kind = "timeout", e.Message);
        }
        catch (HttpRequestException e)
        {
            p.Error(kind = "connection", e.Message);
        }
        return kind;
    }

    private static int Predictions(byte[] answer)
    {
        try
        {
            using var doc = JsonDocument.Parse(answer);
            return doc.RootElement.TryGetProperty("body", out var b) && b.TryGetProperty("predictions", out var preds) && preds.ValueKind == JsonValueKind.Array
                ? preds.GetArrayLength() : -1;
        }
        catch (JsonException)
        {
            return -1;
        }
    }

    private static (int ddCode, string? msg) Status(byte[] answer)
    {
        try
        {
            using var doc = JsonDocument.Parse(answer);
            if (!doc.RootElement.TryGetProperty("status", out var s)) return (0, null);
            int dd = s.TryGetProperty("dd_code", out var d) && d.TryGetInt32(out int v) ? v : 0;
            string? msg = s.TryGetProperty("dd_msg", out var m) ? m.GetString() : s.TryGetProperty("msg", out var m2) ? m2.GetString() : null;
            return (dd, msg);
        }
        catch (JsonException)
        {
            return (0, null);
        }
    }

    /// <summary>Closes the connections.</summary>
    public void Dispose() => _http.Dispose();
}
