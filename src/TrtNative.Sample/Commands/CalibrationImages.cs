using SkiaSharp;
using TrtNative.Ir;
using TrtNative.Runtime;

namespace TrtNative.Sample.Commands;

/// <summary>
/// `--calibration DIR`: the images of a folder as calibration inputs for precision protection
/// (<see cref="BuilderConfig.CalibrationInputs"/>): decoded, resized (bilinear) to the model input's height and width,
/// scaled to [0, 1] and, for 3 channels, normalized with ImageNet's mean and std (torchvision's convention; 1 channel:
/// grey, [0, 1]); grouped into batches of up to 8 that the engine's batch range allows.
/// </summary>
internal static class CalibrationImages
{
    /// <summary>File extensions read as images.</summary>
    public static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"];

    /// <summary>The image files of <paramref name="dir"/> (not recursive), in name order.</summary>
    public static string[] Files(string dir) =>
        Directory.EnumerateFiles(dir).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal).ToArray();

    /// <summary>
    /// Calibration sets for the input <paramref name="name"/> of shape [N, C, H, W] (C 1 or 3, H and W known; a
    /// symbolic N takes batches within <paramref name="minBatch"/>..<paramref name="maxBatch"/>, a fixed N exactly N).
    /// </summary>
    /// <exception cref="TrtNativeException">InvalidArgument naming what does not fit (shape, no images, an undecodable file).</exception>
    public static IReadOnlyList<IReadOnlyDictionary<string, Tensor>> Load(string dir, string name, Dim[] shape, long minBatch, long maxBatch)
    {
        if (shape.Length != 4 || !shape[1].IsKnown || !shape[2].IsKnown || !shape[3].IsKnown || shape[1].Value is not (1 or 3))
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"--calibration: images feed an input [N,1|3,H,W] with known C, H, W; '{name}' is {shape.Format()}");
        int c = (int)shape[1].Value, h = (int)shape[2].Value, w = (int)shape[3].Value;
        var files = Files(dir);
        long batch = shape[0].IsKnown ? shape[0].Value : Math.Clamp(8, minBatch, maxBatch);
        if (files.Length < batch)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"--calibration: {dir} has {files.Length} image(s) ({string.Join(", ", Extensions)}); a batch needs {batch}");
        var norm = c == 3
            ? new ImageNormalization(3, 1f / 255, [0.485f, 0.456f, 0.406f], [0.229f, 0.224f, 0.225f])
            : new ImageNormalization(1, 1f / 255);
        var sets = new List<IReadOnlyDictionary<string, Tensor>>();
        int per = c * h * w;
        for (int start = 0; start + batch <= files.Length; start += (int)batch)
        {
            var data = new float[batch * per];
            for (int i = 0; i < batch; i++)
                norm.ToPlanar(Pixels(files[start + i], c, h, w), h, w, c == 3 ? 4 : 1, data.AsSpan(i * per, per));
            sets.Add(new Dictionary<string, Tensor> { [name] = Tensor.FromFloats(data, [batch, c, h, w]) });
        }
        return sets;
    }

    /// <summary>The image resized to w × h: RGBA bytes for 3 channels, grey bytes for 1.</summary>
    private static byte[] Pixels(string file, int c, int h, int w)
    {
        using var decoded = SKBitmap.Decode(file)
            ?? throw new TrtNativeException(ErrorCode.InvalidArgument, $"--calibration: '{file}' is not an image SkiaSharp can decode");
        var info = new SKImageInfo(w, h, c == 3 ? SKColorType.Rgba8888 : SKColorType.Gray8, SKAlphaType.Unpremul);
        using var resized = decoded.Resize(info, new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None))
            ?? throw new TrtNativeException(ErrorCode.InvalidArgument, $"--calibration: '{file}' cannot be resized to {w}x{h}");
        return resized.Bytes;
    }
}
