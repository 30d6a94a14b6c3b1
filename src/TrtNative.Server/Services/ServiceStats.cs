using TrtNative.Server.Api;

namespace TrtNative.Server.Services;

/// <summary>
/// DeepDetect's <c>service_stats</c> (its src/service_stats.cc), measured the same way: a predict call counts from
/// the moment its service is found to its answer, and as a failure when it throws; the transform (reading, decoding
/// and resizing the images) is timed per call and, with the call's image count (<c>inference_count</c>), recorded
/// only when it succeeds. Averages are over every predict call, successful or not, and are -1 before the first one,
/// as DeepDetect reports them. Thread-safe.
/// </summary>
public sealed class ServiceStats
{
    private readonly Lock _lock = new();
    private long _inferenceCount, _success, _failure;
    private double _predictMs, _transformMs;

    /// <summary>A predict call's transform finished: <paramref name="images"/> images read and preprocessed.</summary>
    public void Transformed(TimeSpan elapsed, int images)
    {
        lock (_lock)
        {
            _transformMs += elapsed.TotalMilliseconds;
            _inferenceCount += images;
        }
    }

    /// <summary>A predict call ended, successfully or not, <paramref name="elapsed"/> after it started.</summary>
    public void PredictEnded(bool succeeded, TimeSpan elapsed)
    {
        lock (_lock)
        {
            if (succeeded) _success++;
            else _failure++;
            _predictMs += elapsed.TotalMilliseconds;
        }
    }

    // Milliseconds to seconds, keeping DeepDetect's -1 for "no predict yet".
    private static double Seconds(double ms) => ms < 0 ? -1 : ms / 1000.0;

    /// <summary>The fields DeepDetect sends, with its names and units.</summary>
    public ServiceStatsBody Snapshot()
    {
        lock (_lock)
        {
            long count = _success + _failure;
            double avgBatch = count == 0 ? -1 : (double)_inferenceCount / count;
            double avgPredictMs = count == 0 ? -1 : _predictMs / count;
            double avgTransformMs = count == 0 ? -1 : _transformMs / count;
            return new ServiceStatsBody(
                InferenceCount: _inferenceCount,
                PredictSuccess: _success,
                PredictFailure: _failure,
                PredictCount: count,
                AvgBatchSize: avgBatch,
                AvgPredictDurationMs: avgPredictMs,
                AvgTransformDurationMs: avgTransformMs,
                AvgPredictDurationS: Seconds(avgPredictMs),
                AvgTransformDurationS: Seconds(avgTransformMs),
                TotalPredictDurationMs: _predictMs,
                TotalTransformDurationMs: _transformMs,
                // DeepDetect keeps these two (in seconds) for older clients.
                AvgPredictDuration: Seconds(avgPredictMs),
                AvgTransformDuration: Seconds(avgTransformMs));
        }
    }
}
