using System.Buffers;

namespace TrtNative.Server.Imaging;

/// <summary>
/// Pools for short-lived per-request buffers (request bodies, answers, decoded RGBA, resize intermediates), with a bound on
/// what they keep: arrays up to 1 MiB are pooled, at most <see cref="ArraysPerBucket"/> per size class; larger ones are
/// allocated fresh and left to the GC. ArrayPool&lt;T&gt;.Shared would instead keep every large array a request returns
/// (per core, per size class), so one large predict left hundreds of MB held until the next memory-pressure trim.
/// </summary>
public static class ScratchBuffers
{
    /// <summary>Largest array pooled, in bytes.</summary>
    public const int MaxPooledBytes = 1 << 20;

    /// <summary>Arrays kept per size class.</summary>
    public const int ArraysPerBucket = 4;

    /// <summary>Byte buffers.</summary>
    public static ArrayPool<byte> Bytes { get; } = ArrayPool<byte>.Create(MaxPooledBytes, ArraysPerBucket);

    /// <summary>Float buffers.</summary>
    public static ArrayPool<float> Floats { get; } = ArrayPool<float>.Create(MaxPooledBytes / sizeof(float), ArraysPerBucket);
}
