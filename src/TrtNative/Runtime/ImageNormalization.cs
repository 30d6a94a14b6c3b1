using TrtNative.Interop;

namespace TrtNative.Runtime;

/// <summary>
/// How an interleaved 8-bit image becomes model input values: output channel c takes source channel
/// <see cref="SourceChannels"/>[c] and becomes (pixel × <see cref="Scale"/> − <see cref="Mean"/>[c]) / <see cref="Std"/>[c],
/// evaluated in float32. The CPU path (<see cref="ToPlanar"/>) and the GPU kernel (<see cref="ImageBatchStager"/>) compute
/// exactly this expression, so both give bit-identical values.
/// </summary>
public sealed class ImageNormalization
{
    /// <param name="channels">Output channels (1..4).</param>
    /// <param name="scale">Multiplies each pixel value (0..255) first.</param>
    /// <param name="mean">Subtracted per output channel after scaling (default 0).</param>
    /// <param name="std">Divides per output channel last (default 1; no zero entries).</param>
    /// <param name="sourceChannels">Source channel of each output channel (default: the same index).</param>
    public ImageNormalization(int channels, float scale = 1f, IReadOnlyList<float>? mean = null, IReadOnlyList<float>? std = null,
        IReadOnlyList<int>? sourceChannels = null)
    {
        if (channels is < 1 or > 4) throw new TrtNativeException(ErrorCode.InvalidArgument, $"image normalisation needs 1..4 channels, got {channels}");
        if (mean != null && mean.Count != channels)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"mean has {mean.Count} values for {channels} channel(s)");
        if (std != null && std.Count != channels)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"std has {std.Count} values for {channels} channel(s)");
        if (std != null && std.Any(s => s == 0f || !float.IsFinite(s)))
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"std must be finite and non-zero, got [{string.Join(", ", std)}]");
        if (mean != null && mean.Any(m => !float.IsFinite(m)))
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"mean must be finite, got [{string.Join(", ", mean)}]");
        if (!float.IsFinite(scale)) throw new TrtNativeException(ErrorCode.InvalidArgument, $"scale must be finite, got {scale}");
        if (sourceChannels != null && sourceChannels.Count != channels)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"{sourceChannels.Count} source channel(s) given for {channels} output channel(s)");
        Channels = channels;
        Scale = scale;
        Mean = mean?.ToArray() ?? new float[channels];
        Std = std?.ToArray() ?? Enumerable.Repeat(1f, channels).ToArray();
        SourceChannels = sourceChannels?.ToArray() ?? Enumerable.Range(0, channels).ToArray();
        if (SourceChannels.Any(c => c < 0 || c >= 4))
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"source channels must be 0..3, got [{string.Join(", ", SourceChannels)}]");
        // Finite parameters can still overflow fp32 (scale 1e38, std 1e-45): every input would become inf or NaN. The
        // steps in fp32 as the kernels take them, at the two extreme pixels (an overflow stays infinite to the end).
        for (int c = 0; c < channels; c++)
            foreach (float pixel in (ReadOnlySpan<float>)[0f, 255f])
                if (!float.IsFinite((pixel * Scale - Mean[c]) / Std[c]))
                    throw new TrtNativeException(ErrorCode.InvalidArgument,
                        $"scale {scale}, mean {Mean[c]} and std {Std[c]} take channel {c}'s pixel values out of fp32's range");
    }

    /// <summary>Output channels.</summary>
    public int Channels { get; }
    /// <summary>Pixel multiplier.</summary>
    public float Scale { get; }
    /// <summary>Per output channel, subtracted after scaling.</summary>
    public IReadOnlyList<float> Mean { get; }
    /// <summary>Per output channel, divides last.</summary>
    public IReadOnlyList<float> Std { get; }
    /// <summary>Per output channel, the interleaved source channel it reads.</summary>
    public IReadOnlyList<int> SourceChannels { get; }

    /// <summary>
    /// CPU path: <paramref name="interleaved"/> (height × width × <paramref name="sourceChannels"/> bytes) →
    /// <paramref name="planar"/> (<see cref="Channels"/> × height × width floats).
    /// </summary>
    public unsafe void ToPlanar(ReadOnlySpan<byte> interleaved, int height, int width, int sourceChannels, Span<float> planar)
    {
        CheckSource(sourceChannels);
        long pixels = (long)height * width;
        if (height <= 0 || width <= 0 || interleaved.Length < pixels * sourceChannels || planar.Length < pixels * Channels)
            throw new TrtNativeException(ErrorCode.InvalidArgument,
                $"image {height}x{width}x{sourceChannels}: {interleaved.Length} source bytes and {planar.Length} destination floats are too few");
        fixed (byte* src0 = interleaved)
        fixed (float* dst0 = planar)
        {
            for (int c = 0; c < Channels; c++)
            {
                float scale = Scale, mean = Mean[c], std = Std[c];
                byte* src = src0 + SourceChannels[c];
                float* dst = dst0 + c * pixels;
                for (long i = 0; i < pixels; i++, src += sourceChannels)
                {
                    // Two statements: each product and difference is rounded to float, as in the GPU kernel.
                    float v = *src * scale - mean;
                    dst[i] = v / std;
                }
            }
        }
    }

    internal void CheckSource(int sourceChannels)
    {
        if (sourceChannels is < 1 or > 4 || SourceChannels.Any(c => c >= sourceChannels))
            throw new TrtNativeException(ErrorCode.InvalidArgument,
                $"the normalisation reads source channels [{string.Join(", ", SourceChannels)}] but the images have {sourceChannels} channel(s)");
    }

    internal unsafe ImageParams ToNative()
    {
        var p = new ImageParams { Scale = Scale };
        for (int c = 0; c < Channels; c++)
        {
            p.Mean[c] = Mean[c];
            p.Std[c] = Std[c];
            p.SrcChannel[c] = SourceChannels[c];
        }
        return p;
    }
}
