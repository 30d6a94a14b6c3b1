using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace TrtNative.Sample.LoadGen;

/// <summary>Client round-trip latency of the successful requests of a level, in milliseconds (nearest-rank percentiles).</summary>
internal sealed record LatencyMs(double P50, double P90, double P99, double Max, double Mean)
{
    /// <summary>The percentiles of <paramref name="ms"/> (sorted here); null when empty.</summary>
    public static LatencyMs? Of(List<double> ms)
    {
        if (ms.Count == 0) return null;
        ms.Sort();
        double At(double q) => ms[Math.Clamp((int)Math.Ceiling(q * ms.Count) - 1, 0, ms.Count - 1)];
        return new LatencyMs(Round(At(0.50)), Round(At(0.90)), Round(At(0.99)), Round(ms[^1]), Round(ms.Average()));
    }

    internal static double Round(double v) => Math.Round(v, 3);
}

/// <summary>One kind of failed request: how many, and the first message seen.</summary>
internal sealed record ErrorKind(long Count, string FirstMessage);

/// <summary>
/// What the server reported about the measured part of a level: its engine batches and the images in them (differences
/// of GET /services/{name} service_stats, or of /metrics' trtnative_batch_size where the stats lack them), and the
/// images its successful predicts classified (service_stats.inference_count).
/// </summary>
internal sealed record ServerSide(long? Batches, long? BatchedImages, double? AvgBatchSize, long? InferenceCount, string Source);

/// <summary>One concurrency level.</summary>
internal sealed record LevelResult(
    int Concurrency, double Seconds, long Requests, long Succeeded, long Images, long Errors,
    Dictionary<string, ErrorKind> ErrorKinds, double ImagesPerSecond, double RequestsPerSecond, LatencyMs? LatencyMs,
    ServerSide Server)
{
    /// <summary>The engine's own images/s at this level's average batch size (from --engine-plan), when measured.</summary>
    public EngineFigure? Engine { get; set; }

    /// <summary>Where the time went inside the server during the level (from its /metrics), when it has the endpoint.</summary>
    public ServerStages? Stages { get; set; }
}

/// <summary>The engine alone at one batch size.</summary>
internal sealed record EngineFigure(long Batch, double MedianMs, double ImagesPerSecond);

/// <summary>The engine measurement of a run: its figures, or why there are none.</summary>
internal sealed record EngineReport(string Plan, string? Error, List<EngineFigure> Results);

/// <summary>A whole run.</summary>
internal sealed record LoadReport(
    string Server, string Service, string? Backend, string DataMode, int ImagesPerRequest, int ImageCount, string Images,
    string Started, List<LevelResult> Levels)
{
    /// <summary>Set when --engine-plan was given.</summary>
    public EngineReport? Engine { get; set; }

    /// <summary>Set when --reference-service was given: the measured service against the reference on the run's images.</summary>
    public AccuracyReport? Accuracy { get; set; }

    /// <summary>The report as indented JSON (snake_case names).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, LoadReportJson.Default.LoadReport);

    /// <summary>The table printed at the end of a run.</summary>
    public string Table()
    {
        var sb = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        sb.AppendLine(ci, $"loadgen {Server} service={Service} backend={Backend ?? "?"} data={DataMode} images/request={ImagesPerRequest} images={Images}");
        sb.AppendLine(ci, $"{"clients",7} {"requests",9} {"images/s",9} {"p50 ms",8} {"p99 ms",8} {"errors",7} {"avg batch",9} {"engine img/s",13}");
        foreach (var l in Levels)
        {
            string batch = l.Server.AvgBatchSize is double b ? b.ToString("F2", ci) : "-";
            string engine = l.Engine is { } e ? $"{e.ImagesPerSecond.ToString("F0", ci)} @{e.Batch}" : "-";
            sb.AppendLine(ci, $"{l.Concurrency,7} {l.Requests,9} {l.ImagesPerSecond,9:F1} {(l.LatencyMs?.P50 ?? double.NaN),8:F2} {(l.LatencyMs?.P99 ?? double.NaN),8:F2} {l.Errors,7} {batch,9} {engine,13}");
        }
        foreach (var l in Levels)
            if (l.Stages is { } st)
                sb.AppendLine(ci, $"  {l.Concurrency} clients, server side (ms): queue {Ms(st.QueueMs)}, request {Ms(st.RequestMs)}; per batch: run {Ms(st.BatchRunMs)}, " +
                                  $"host_submit {Ms(st.HostSubmitMs)}, gpu_prepare {Ms(st.GpuPrepareMs)} (decode {Ms(st.GpuDecodeMs)}), gpu_engine {Ms(st.GpuEngineMs)}; share of the time in host_submit {Ms(st.HostSubmitBusy)}");
        foreach (var l in Levels)
            foreach (var (kind, e) in l.ErrorKinds)
                sb.AppendLine(ci, $"  {l.Concurrency} clients: {e.Count} x {kind}: {e.FirstMessage}");
        if (Engine?.Error is string why) sb.AppendLine("engine: " + why);
        if (Accuracy is { } a) sb.AppendLine(a.Line());
        return sb.ToString();
    }

    private static string Ms(double? v) => v is double d ? d.ToString("F3", CultureInfo.InvariantCulture) : "-";
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(LoadReport))]
internal sealed partial class LoadReportJson : JsonSerializerContext;
