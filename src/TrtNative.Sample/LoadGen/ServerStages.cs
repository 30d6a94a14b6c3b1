using System.Globalization;
using System.Text.RegularExpressions;

namespace TrtNative.Sample.LoadGen;

/// <summary>
/// Where a level's time went inside the server, from its /metrics before and after the measured part (means over what
/// happened in between, in milliseconds): an image's wait in the batching queue, a request's time in the server, and a
/// batch's run with its stages — host_submit (staging on the batching worker's thread), gpu_prepare (decode, resize,
/// normalise on the GPU; its first part, gpu_decode, until the pixels are in the batch's slots), gpu_engine (the engine
/// and the scores' download). <see cref="HostSubmitBusy"/> is the share of
/// the level's wall time spent in host_submit: near 1 per replica, the worker's thread is the limit. A figure the server
/// does not report (a CPU backend has no stages) is null.
/// </summary>
internal sealed record ServerStages(
    double? QueueMs, double? RequestMs, double? BatchRunMs, double? HostSubmitMs, double? GpuPrepareMs, double? GpuEngineMs, double? HostSubmitBusy,
    double? GpuDecodeMs)
{
    /// <summary>The means between two /metrics texts of <paramref name="service"/>, <paramref name="seconds"/> apart.</summary>
    public static ServerStages Between(string before, string after, string service, double seconds)
    {
        var svc = ("service", service);
        double Delta(string sample, (string, string)[] labels) => Sum(after, sample, labels) - Sum(before, sample, labels);
        double? Mean(string histogram, params (string, string)[] labels)
        {
            double count = Delta(histogram + "_count", labels);
            return count > 0 ? Math.Round(1000 * Delta(histogram + "_sum", labels) / count, 3) : null;
        }
        (string, string)[] submit = [svc, ("stage", "host_submit")];
        double submitSeconds = Delta("trtnative_batch_stage_seconds_sum", submit);
        var host = Mean("trtnative_batch_stage_seconds", submit);
        return new ServerStages(
            Mean("trtnative_queue_time_seconds", svc),
            Mean("trtnative_request_duration_seconds"),
            Mean("trtnative_batch_run_seconds", svc),
            host,
            Mean("trtnative_batch_stage_seconds", svc, ("stage", "gpu_prepare")),
            Mean("trtnative_batch_stage_seconds", svc, ("stage", "gpu_engine")),
            host is null || seconds <= 0 ? null : Math.Round(submitSeconds / seconds, 3),
            Mean("trtnative_batch_stage_seconds", svc, ("stage", "gpu_decode")));
    }

    private static readonly Regex SampleLine = new(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", RegexOptions.Multiline);
    private static readonly Regex LabelPair = new("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    /// <summary>
    /// The sum of the samples named <paramref name="name"/> that carry every one of <paramref name="labels"/> (other labels,
    /// such as the endpoint or the exporter's scope, are summed over); 0 when there is none.
    /// </summary>
    public static double Sum(string text, string name, params (string Name, string Value)[] labels)
    {
        double total = 0;
        foreach (Match m in SampleLine.Matches(text))
        {
            if (m.Groups[1].Value != name) continue;
            var have = LabelPair.Matches(m.Groups[2].Value).ToDictionary(l => l.Groups[1].Value, l => l.Groups[2].Value);
            if (!labels.All(l => have.TryGetValue(l.Name, out var v) && v == l.Value)) continue;
            if (double.TryParse(m.Groups[3].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out double v2) && double.IsFinite(v2)) total += v2;
        }
        return total;
    }
}
