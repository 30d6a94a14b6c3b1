using System.Runtime.InteropServices;
using SkiaSharp;

namespace TrtNative.Sample.LoadGen;

/// <summary>One image the load generator sends: its file (absolute path) and its encoded bytes.</summary>
internal sealed record LoadImage(string Path, byte[] Bytes, int Width, int Height);

/// <summary>The images of a run: read from a folder, or synthetic photo-like JPEGs written to a folder.</summary>
internal static class LoadImages
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];

    /// <summary>Every JPEG (and PNG) in <paramref name="folder"/>, sorted by name; sizes read from their headers.</summary>
    public static List<LoadImage> FromFolder(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"image folder '{folder}' does not exist");
        var list = new List<LoadImage>();
        foreach (var f in Directory.EnumerateFiles(folder).Where(f => Extensions.Contains(System.IO.Path.GetExtension(f).ToLowerInvariant()))
                     .Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(f);
            using var codec = SKCodec.Create(new MemoryStream(bytes));
            list.Add(new LoadImage(System.IO.Path.GetFullPath(f), bytes, codec?.Info.Width ?? 0, codec?.Info.Height ?? 0));
        }
        if (list.Count == 0) throw new FileNotFoundException($"no .jpg, .jpeg or .png file in '{folder}'");
        return list;
    }

    /// <summary>
    /// <paramref name="count"/> JPEGs (quality 90) per size, written to <paramref name="folder"/> as
    /// synthetic_{W}x{H}_{k}.jpg: smooth gradients, a few shapes and mild noise, so that sizes and decode times are
    /// photo-like rather than those of a flat colour or of pure noise. Deterministic for a given size and k.
    /// </summary>
    public static List<LoadImage> Synthetic(IEnumerable<(int Width, int Height)> sizes, int count, string folder)
    {
        Directory.CreateDirectory(folder);
        var list = new List<LoadImage>();
        foreach (var (w, h) in sizes)
        {
            for (int k = 0; k < count; k++)
            {
                var bytes = Jpeg(w, h, seed: k + 1);
                string path = System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, $"synthetic_{w}x{h}_{k}.jpg"));
                File.WriteAllBytes(path, bytes);
                list.Add(new LoadImage(path, bytes, w, h));
            }
        }
        return list;
    }

    /// <summary>One synthetic photo-like JPEG.</summary>
    public static byte[] Jpeg(int w, int h, int seed)
    {
        var rng = new Random(seed * 7919 + w * 31 + h);
        var px = new byte[w * h * 4];
        double fx = 1 + rng.NextDouble() * 3, fy = 1 + rng.NextDouble() * 3, phase = rng.NextDouble() * Math.PI;
        for (int y = 0; y < h; y++)
        {
            for (int x = 0; x < w; x++)
            {
                int i = (y * w + x) * 4, noise = rng.Next(-12, 13);
                double u = (double)x / w, v = (double)y / h;
                px[i] = Clamp(255 * u + noise);
                px[i + 1] = Clamp(128 + 100 * Math.Sin(fx * Math.PI * u + fy * Math.PI * v + phase) + noise);
                px[i + 2] = Clamp(255 * v + noise);
                px[i + 3] = 255;
            }
        }
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Opaque));
        Marshal.Copy(px, 0, bmp.GetPixels(), px.Length);
        using (var canvas = new SKCanvas(bmp))
        using (var paint = new SKPaint { IsAntialias = true })
        {
            for (int s = 0; s < 6; s++)
            {
                paint.Color = new SKColor((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256));
                float cx = rng.Next(w), cy = rng.Next(h), r = Math.Max(2, Math.Min(w, h) * (0.05f + 0.15f * (float)rng.NextDouble()));
                if (s % 2 == 0) canvas.DrawCircle(cx, cy, r, paint);
                else canvas.DrawRect(cx - r, cy - r / 2, 2 * r, r, paint);
            }
        }
        using var data = bmp.Encode(SKEncodedImageFormat.Jpeg, 90);
        return data.ToArray();
    }

    private static byte Clamp(double v) => (byte)Math.Clamp((int)v, 0, 255);
}
