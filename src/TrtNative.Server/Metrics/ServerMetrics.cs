using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace TrtNative.Server.Metrics;

/// <summary>A Prometheus histogram with fixed buckets; thread-safe.</summary>
public sealed class Histogram(double[] bounds)
{
    private readonly long[] _counts = new long[bounds.Length + 1];
    private long _count;
    private double _sum;
    private readonly Lock _lock = new();

    /// <summary>Adds one observation.</summary>
    public void Observe(double v)
    {
        int i = 0;
        while (i < bounds.Length && v > bounds[i]) i++;
        lock (_lock)
        {
            _counts[i]++;
            _count++;
            _sum += v;
        }
    }

    internal void Write(StringBuilder sb, string name, string labels)
    {
        long cum = 0;
        lock (_lock)
        {
            string sep = labels.Length > 0 ? labels + "," : "";
            for (int i = 0; i < bounds.Length; i++)
            {
                cum += _counts[i];
                sb.Append(name).Append("_bucket{").Append(sep).Append("le=\"").Append(Fmt(bounds[i])).Append("\"} ").Append(cum).Append('\n');
            }
            cum += _counts[^1];
            sb.Append(name).Append("_bucket{").Append(sep).Append("le=\"+Inf\"} ").Append(cum).Append('\n');
            string l = labels.Length > 0 ? "{" + labels + "}" : "";
            sb.Append(name).Append("_sum").Append(l).Append(' ').Append(Fmt(_sum)).Append('\n');
            sb.Append(name).Append("_count").Append(l).Append(' ').Append(_count).Append('\n');
        }
    }

    internal static string Fmt(double d) => d.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// The server's metrics in Prometheus text format 0.0.4 (written here, no client library): requests by
/// endpoint and outcome, request latency, per-service queue time, batch size, engine build time, images with
/// non-finite scores, and GPU memory in use where a GPU backend holds some.
/// </summary>
public sealed class ServerMetrics
{
    private static readonly double[] LatencyBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] QueueBounds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
    private static readonly double[] BatchBounds = [1, 2, 4, 8, 16, 32, 48, 64, 128, 256];

    private readonly ConcurrentDictionary<(string endpoint, string code), long> _requests = new();
    private readonly ConcurrentDictionary<string, Histogram> _latency = new();
    private readonly ConcurrentDictionary<string, Histogram> _queue = new();
    private readonly ConcurrentDictionary<string, Histogram> _batch = new();
    private readonly ConcurrentDictionary<string, Histogram> _run = new();
    private readonly ConcurrentDictionary<string, (string backend, double seconds)> _build = new();
    private readonly ConcurrentDictionary<string, Func<long>> _gpuMem = new();
    private readonly ConcurrentDictionary<string, long> _nonFinite = new();

    /// <summary>Counts one finished HTTP request and its duration.</summary>
    public void Request(string endpoint, int status, double seconds)
    {
        _requests.AddOrUpdate((endpoint, status.ToString(CultureInfo.InvariantCulture)), 1, (_, v) => v + 1);
        _latency.GetOrAdd(endpoint, _ => new Histogram(LatencyBounds)).Observe(seconds);
    }

    /// <summary>Records one batch: its size, each item's wait in the queue, and how long the backend ran it.</summary>
    public void Batch(string service, int size, double[] queueSeconds, double runSeconds)
    {
        _run.GetOrAdd(service, _ => new Histogram(QueueBounds)).Observe(runSeconds);
        _batch.GetOrAdd(service, _ => new Histogram(BatchBounds)).Observe(size);
        var q = _queue.GetOrAdd(service, _ => new Histogram(QueueBounds));
        foreach (var s in queueSeconds) q.Observe(s);
    }

    /// <summary>Counts images whose scores held a NaN or an infinity (their requests failed).</summary>
    public void NonFiniteOutputs(string service, int images) => _nonFinite.AddOrUpdate(service, images, (_, v) => v + images);

    /// <summary>Records how long a service's engine (or CPU session) took to build.</summary>
    public void EngineBuilt(string service, string backend, double seconds) => _build[service] = (backend, seconds);

    /// <summary>Registers a GPU memory reader for a service (only GPU backends call this).</summary>
    public void TrackGpuMemory(string service, Func<long> bytes) => _gpuMem[service] = bytes;

    /// <summary>Drops a deleted service's gauges (its counters stay, as Prometheus expects).</summary>
    public void ServiceRemoved(string service)
    {
        _build.TryRemove(service, out _);
        _gpuMem.TryRemove(service, out _);
    }

    /// <summary>The exposition text.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append("# HELP trtnative_requests_total HTTP requests by endpoint and status code.\n# TYPE trtnative_requests_total counter\n");
        foreach (var ((ep, code), v) in _requests.OrderBy(k => k.Key.endpoint).ThenBy(k => k.Key.code))
            sb.Append($"trtnative_requests_total{{endpoint=\"{Esc(ep)}\",code=\"{code}\"}} {v}\n");
        sb.Append("# HELP trtnative_request_duration_seconds HTTP request latency.\n# TYPE trtnative_request_duration_seconds histogram\n");
        foreach (var (ep, h) in _latency.OrderBy(k => k.Key)) h.Write(sb, "trtnative_request_duration_seconds", $"endpoint=\"{Esc(ep)}\"");
        sb.Append("# HELP trtnative_queue_time_seconds Time an image waited in a service's batching queue.\n# TYPE trtnative_queue_time_seconds histogram\n");
        foreach (var (s, h) in _queue.OrderBy(k => k.Key)) h.Write(sb, "trtnative_queue_time_seconds", $"service=\"{Esc(s)}\"");
        sb.Append("# HELP trtnative_batch_size Images per backend run.\n# TYPE trtnative_batch_size histogram\n");
        foreach (var (s, h) in _batch.OrderBy(k => k.Key)) h.Write(sb, "trtnative_batch_size", $"service=\"{Esc(s)}\"");
        sb.Append("# HELP trtnative_batch_run_seconds Time from submitting a batch to the backend to its scores (pipelined batches overlap).\n# TYPE trtnative_batch_run_seconds histogram\n");
        foreach (var (s, h) in _run.OrderBy(k => k.Key)) h.Write(sb, "trtnative_batch_run_seconds", $"service=\"{Esc(s)}\"");
        sb.Append("# HELP trtnative_nonfinite_outputs_total Images whose scores held a NaN or an infinity; their predicts failed with 500/1007.\n# TYPE trtnative_nonfinite_outputs_total counter\n");
        foreach (var (s, v) in _nonFinite.OrderBy(k => k.Key)) sb.Append($"trtnative_nonfinite_outputs_total{{service=\"{Esc(s)}\"}} {v}\n");
        sb.Append("# HELP trtnative_engine_build_seconds Time the service's engine (or CPU session) took to build.\n# TYPE trtnative_engine_build_seconds gauge\n");
        foreach (var (s, (b, sec)) in _build.OrderBy(k => k.Key))
            sb.Append($"trtnative_engine_build_seconds{{service=\"{Esc(s)}\",backend=\"{Esc(b)}\"}} {Histogram.Fmt(sec)}\n");
        if (!_gpuMem.IsEmpty)
        {
            sb.Append("# HELP trtnative_gpu_memory_bytes Device memory held by a service's GPU engine.\n# TYPE trtnative_gpu_memory_bytes gauge\n");
            foreach (var (s, f) in _gpuMem.OrderBy(k => k.Key)) sb.Append($"trtnative_gpu_memory_bytes{{service=\"{Esc(s)}\"}} {f()}\n");
        }
        return sb.ToString();
    }

    private static string Esc(string s) => s.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
}
