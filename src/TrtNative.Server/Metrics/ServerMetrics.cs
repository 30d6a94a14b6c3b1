using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using TrtNative.Server.Inference;

namespace TrtNative.Server.Metrics;

/// <summary>
/// The server's metrics as <see cref="System.Diagnostics.Metrics"/> instruments on the "TrtNative.Server" meter:
/// requests by endpoint and status code, request latency, per-service queue time, batch size and run time, engine
/// build time, images with non-finite scores, and GPU memory in use where a GPU backend holds some. GET /metrics
/// exports them (with ASP.NET Core's and the runtime's meters) through OpenTelemetry's Prometheus exporter; the
/// instrument names are the Prometheus names less the suffixes the exporter adds (_total for counters, the unit
/// for seconds).
/// </summary>
public sealed class ServerMetrics
{
    /// <summary>The meter's name (what an exporter subscribes to).</summary>
    public const string MeterName = "TrtNative.Server";

    private static readonly double[] LatencyBounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] QueueBounds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
    private static readonly double[] BatchBounds = [1, 2, 4, 8, 16, 32, 48, 64, 128, 256];

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _latency;
    private readonly Histogram<double> _queue;
    private readonly Histogram<double> _batch;
    private readonly Histogram<double> _run;
    private readonly Histogram<double> _stage;
    private readonly Counter<long> _nonFinite;
    private readonly ConcurrentDictionary<string, (string backend, double seconds)> _build = new();
    private readonly ConcurrentDictionary<string, Func<long>> _gpuMem = new();
    private readonly Counter<long> _replicaBatches;
    private readonly Counter<long> _replicaImages;
    private readonly Counter<long> _replicaFailures;
    private readonly ConcurrentDictionary<string, IReadOnlyList<Replica>> _replicas = new();

    /// <summary>Creates the instruments on a meter from <paramref name="meters"/> (one meter per host).</summary>
    public ServerMetrics(IMeterFactory meters)
    {
        var m = meters.Create(MeterName);
        _requests = m.CreateCounter<long>("trtnative_requests", description: "HTTP requests by endpoint and status code.");
        _latency = m.CreateHistogram("trtnative_request_duration", "s", "HTTP request latency.", advice: Buckets(LatencyBounds));
        _queue = m.CreateHistogram("trtnative_queue_time", "s", "Time an image waited in a service's batching queue.", advice: Buckets(QueueBounds));
        _batch = m.CreateHistogram("trtnative_batch_size", null, "Images per backend run.", advice: Buckets(BatchBounds));
        _run = m.CreateHistogram("trtnative_batch_run", "s",
            "Time from submitting a batch to the backend to its scores (pipelined batches overlap).", advice: Buckets(QueueBounds));
        _stage = m.CreateHistogram("trtnative_batch_stage", "s",
            "A batch's time by stage: host_submit (staging it on the host), gpu_prepare (decoding, resizing, normalising on the GPU), " +
            "gpu_decode (gpu_prepare's first part: until the pixels are in the batch's slots), gpu_engine (the engine and the scores' download); " +
            "gpu_prepare and gpu_decode start before the host staging, so they include its time on an idle stream.",
            advice: Buckets(QueueBounds));
        _nonFinite = m.CreateCounter<long>("trtnative_nonfinite_outputs",
            description: "Images whose scores held a NaN or an infinity; their predicts failed with 500/1007.");
        m.CreateObservableGauge("trtnative_engine_build", () => _build.Select(kv =>
            new Measurement<double>(kv.Value.seconds, new KeyValuePair<string, object?>("service", kv.Key), new("backend", kv.Value.backend))),
            "s", "Time the service's engine (or CPU session) took to build.");
        m.CreateObservableGauge("trtnative_gpu_memory", () => _gpuMem.Select(kv =>
            new Measurement<long>(kv.Value(), new KeyValuePair<string, object?>("service", kv.Key))),
            "By", "Device memory held by a service's GPU engine.");
        _replicaBatches = m.CreateCounter<long>("trtnative_replica_batches", description: "Batches a service's replica ran, by GPU (gpu=\"cpu\" for a CPU backend).");
        _replicaImages = m.CreateCounter<long>("trtnative_replica_images", description: "Images in the batches a service's replica ran, by GPU.");
        _replicaFailures = m.CreateCounter<long>("trtnative_replica_failures",
            description: "Device errors that took a service's replica out of rotation, by GPU.");
        m.CreateObservableGauge("trtnative_replica_healthy", () => ReplicaGauge(r => r.State == ReplicaState.Healthy ? 1 : 0),
            null, "1 while a service's replica is in rotation, 0 while it is failed or being restored.");
        m.CreateObservableGauge("trtnative_replica_in_flight", () => ReplicaGauge(r => r.InFlight),
            null, "Batches dispatched to a service's replica and not yet delivered.");
        m.CreateObservableGauge("trtnative_replica_gpu_memory", () => ReplicaGauge(r => GpuBytes(r), skipZero: true),
            "By", "Device memory held by a service's replica on its GPU.");
    }

    private IEnumerable<Measurement<long>> ReplicaGauge(Func<Replica, long> value, bool skipZero = false)
    {
        foreach (var (service, replicas) in _replicas)
            foreach (var r in replicas)
            {
                long v = value(r);
                if (skipZero && v <= 0) continue;
                yield return new Measurement<long>(v, new KeyValuePair<string, object?>("service", service), new("gpu", r.Label));
            }
    }

    // A replica being restored may have its backend freed under the reader: it then holds nothing.
    private static long GpuBytes(Replica r)
    {
        try
        {
            return r.Backend?.DeviceMemoryBytes ?? 0;
        }
        catch (ObjectDisposedException)
        {
            return 0;
        }
    }

    /// <summary>Counts one batch a replica ran (labels: service, gpu) and records its stage times where the backend measured them.</summary>
    public void ReplicaBatch(string service, string gpu, int images, BatchStages? stages = null)
    {
        var s = new KeyValuePair<string, object?>("service", service);
        var g = new KeyValuePair<string, object?>("gpu", gpu);
        _replicaBatches.Add(1, s, g);
        _replicaImages.Add(images, s, g);
        if (stages is { } t)
        {
            _stage.Record(t.HostSubmitSeconds, s, new("stage", "host_submit"));
            _stage.Record(t.GpuDecodeSeconds, s, new("stage", "gpu_decode"));
            _stage.Record(t.GpuPrepareSeconds, s, new("stage", "gpu_prepare"));
            _stage.Record(t.GpuEngineSeconds, s, new("stage", "gpu_engine"));
        }
    }

    /// <summary>Counts a device error that took a replica out of rotation.</summary>
    public void ReplicaFailed(string service, string gpu) =>
        _replicaFailures.Add(1, new KeyValuePair<string, object?>("service", service), new("gpu", gpu));

    /// <summary>Registers a service's replicas for the per-GPU gauges (state, batches in flight, device memory).</summary>
    public void TrackReplicas(string service, IReadOnlyList<Replica> replicas) => _replicas[service] = replicas;

    private static InstrumentAdvice<double> Buckets(double[] bounds) => new() { HistogramBucketBoundaries = bounds };

    /// <summary>Counts one finished HTTP request and its duration.</summary>
    public void Request(string endpoint, int status, double seconds)
    {
        var ep = new KeyValuePair<string, object?>("endpoint", endpoint);
        _requests.Add(1, ep, new("code", status));
        _latency.Record(seconds, ep);
    }

    /// <summary>Records one batch: its size, each item's wait in the queue, and how long the backend ran it.</summary>
    public void Batch(string service, int size, double[] queueSeconds, double runSeconds)
    {
        var s = new KeyValuePair<string, object?>("service", service);
        _run.Record(runSeconds, s);
        _batch.Record(size, s);
        foreach (var q in queueSeconds) _queue.Record(q, s);
    }

    /// <summary>Counts images whose scores held a NaN or an infinity (their requests failed).</summary>
    public void NonFiniteOutputs(string service, int images) => _nonFinite.Add(images, new KeyValuePair<string, object?>("service", service));

    /// <summary>Records how long a service's engine (or CPU session) took to build.</summary>
    public void EngineBuilt(string service, string backend, double seconds) => _build[service] = (backend, seconds);

    /// <summary>Registers a GPU memory reader for a service (only GPU backends call this).</summary>
    public void TrackGpuMemory(string service, Func<long> bytes) => _gpuMem[service] = bytes;

    /// <summary>Drops a deleted service's gauges (its counters stay, as Prometheus expects).</summary>
    public void ServiceRemoved(string service)
    {
        _build.TryRemove(service, out _);
        _gpuMem.TryRemove(service, out _);
        _replicas.TryRemove(service, out _);
    }
}
