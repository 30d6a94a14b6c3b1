namespace TrtNative.Cuda;

/// <summary>
/// Counters for CUDA objects, so tests and services can see leaks and live memory. A leak is an object that reached
/// the finalizer without Dispose: its memory is not freed (the finalizer never calls into CUDA) until the process ends.
/// </summary>
public static class CudaDiagnostics
{
    private static long s_leaked, s_failedReleases, s_liveDevice, s_liveDeviceBytes, s_livePinned, s_livePinnedBytes;

    /// <summary>CUDA objects (memory, streams, events, contexts) that were finalized instead of disposed.</summary>
    public static long LeakedAllocations => Interlocked.Read(ref s_leaked);

    /// <summary>Disposals whose native release call returned an error (the error is swallowed: Dispose never throws).</summary>
    public static long FailedReleases => Interlocked.Read(ref s_failedReleases);

    /// <summary>Device allocations made by <see cref="DeviceBuffer{T}"/> and not yet disposed.</summary>
    public static long LiveDeviceAllocations => Interlocked.Read(ref s_liveDevice);

    /// <summary>Bytes of device memory held by live <see cref="DeviceBuffer{T}"/>s.</summary>
    public static long LiveDeviceBytes => Interlocked.Read(ref s_liveDeviceBytes);

    /// <summary>Pinned host allocations made by <see cref="PinnedBuffer{T}"/> and not yet disposed.</summary>
    public static long LivePinnedAllocations => Interlocked.Read(ref s_livePinned);

    /// <summary>The last leak or failed release, for a log line; null if none.</summary>
    public static string? LastProblem { get; private set; }

    internal static void RecordLeak(string kind)
    {
        Interlocked.Increment(ref s_leaked);
        LastProblem = $"leaked {kind}: finalized without Dispose (not freed; the finalizer does not call CUDA)";
    }

    internal static void RecordFailedRelease(string kind, CUresult result)
    {
        Interlocked.Increment(ref s_failedReleases);
        LastProblem = $"releasing {kind} failed with {result}";
    }

    internal static void DeviceAllocated(long bytes)
    {
        Interlocked.Increment(ref s_liveDevice);
        Interlocked.Add(ref s_liveDeviceBytes, bytes);
    }

    internal static void DeviceFreed(long bytes)
    {
        Interlocked.Decrement(ref s_liveDevice);
        Interlocked.Add(ref s_liveDeviceBytes, -bytes);
    }

    internal static void PinnedAllocated(long bytes)
    {
        Interlocked.Increment(ref s_livePinned);
        Interlocked.Add(ref s_livePinnedBytes, bytes);
    }

    internal static void PinnedFreed(long bytes)
    {
        Interlocked.Decrement(ref s_livePinned);
        Interlocked.Add(ref s_livePinnedBytes, -bytes);
    }
}
