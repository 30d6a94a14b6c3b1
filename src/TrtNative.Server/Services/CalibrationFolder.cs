using TrtNative.Ir;
using TrtNative.Server.Imaging;

namespace TrtNative.Server.Services;

/// <summary>
/// Sample images a service's repository may hold for precision protection's calibration (the GPU build's automatic
/// mixed precision): a <c>calibration/</c> folder beside the model. Each image goes through the service's own input
/// path (decode, resize, crop, channel order, scale/mean/std), so the engine is calibrated on what it will be fed.
/// Without the folder the builder calibrates on random N(0,1) inputs.
/// </summary>
public static class CalibrationFolder
{
    /// <summary>The folder's name inside a service repository.</summary>
    public const string Name = "calibration";

    /// <summary>Image files looked at, by extension (case-insensitive).</summary>
    public static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"];

    /// <summary>Most images used (in file-name order); calibration compares every node's values, so more adds little.</summary>
    public const int MaxImages = 64;

    /// <summary>Most images per calibration run.</summary>
    public const int MaxPerRun = 8;

    /// <summary>
    /// The calibration runs for the model input <paramref name="inputName"/>: batches of up to
    /// min(<see cref="MaxPerRun"/>, <paramref name="maxBatch"/>) images as [n, C, H, W] tensors, or of exactly
    /// <paramref name="fixedBatch"/> when the model's batch is fixed (the last one filled up with the first images);
    /// null when <paramref name="repository"/> has no calibration folder.
    /// </summary>
    /// <exception cref="InvalidDataException">The folder holds no image, or an image cannot be read (named).</exception>
    public static IReadOnlyList<IReadOnlyDictionary<string, Tensor>>? Load(string repository, ImageInputParams input, string inputName, int maxBatch,
        long maxPixels, int fixedBatch = 0)
    {
        string dir = Path.Combine(repository, Name);
        if (!Directory.Exists(dir)) return null;
        var files = Directory.EnumerateFiles(dir)
            .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).Take(MaxImages).ToList();
        if (files.Count == 0)
            throw new InvalidDataException($"{Name}/ in the service repository holds no image ({string.Join(", ", Extensions)})");
        var items = files.Select(f =>
        {
            try
            {
                return ImagePreprocessor.ToTensor(ImageDecoder.Decode(File.ReadAllBytes(f), input.Bw, maxPixels), input);
            }
            catch (Exception e) when (e is ImageReadException or IOException or UnauthorizedAccessException)
            {
                throw new InvalidDataException($"calibration image '{Path.GetFileName(f)}' cannot be read: {e.Message}", e);
            }
        }).ToList();
        int per = fixedBatch > 0 ? fixedBatch : Math.Max(1, Math.Min(MaxPerRun, maxBatch));
        int c = input.Channels, h = input.OutHeight, w = input.OutWidth, size = c * h * w;
        var runs = new List<IReadOnlyDictionary<string, Tensor>>();
        for (int first = 0; first < items.Count; first += per)
        {
            int n = fixedBatch > 0 ? fixedBatch : Math.Min(per, items.Count - first);
            var batch = new float[n * size];
            for (int i = 0; i < n; i++) items[(first + i) % items.Count].CopyTo(batch, i * size);
            runs.Add(new Dictionary<string, Tensor> { [inputName] = Tensor.FromFloats(batch, [n, c, h, w]) });
        }
        return runs;
    }
}
