using System.Buffers;
using SkiaSharp;

namespace TrtNative.Server.Imaging;

/// <summary>A decoded 8-bit image, interleaved: 3 channels in R,G,B order, or 1 grey channel.</summary>
public sealed record DecodedImage(byte[] Pixels, int Width, int Height, int Channels);

/// <summary>Thrown for an image that cannot be read; the handler reports it as 400/1005.</summary>
public sealed class ImageReadException(string message) : Exception(message);

/// <summary>
/// Decodes JPEG (baseline, progressive, CMYK), PNG (alpha, 16-bit, grey), WebP, BMP and GIF (first frame)
/// with SkiaSharp, applies the EXIF orientation, and converts to 8-bit RGB or grey. Alpha is dropped
/// without compositing (the stored colour is kept), as OpenCV's imread(IMREAD_COLOR) in DeepDetect does.
/// No colour management: values are the encoded ones.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Decodes <paramref name="bytes"/>; refuses images above <paramref name="maxPixels"/> before allocating.</summary>
    public static DecodedImage Decode(byte[] bytes, bool gray, long maxPixels)
    {
        if (bytes.Length == 0) throw new ImageReadException("empty (0 bytes)");
        using var stream = new SKMemoryStream(bytes);
        using var codec = SKCodec.Create(stream, out var res);
        if (codec == null) throw new ImageReadException($"not a recognised image format ({res})");
        var info = codec.Info;
        long px = (long)info.Width * info.Height;
        if (info.Width <= 0 || info.Height <= 0) throw new ImageReadException($"invalid dimensions {info.Width}x{info.Height}");
        if (px > maxPixels) throw new ImageReadException($"{info.Width}x{info.Height} = {px} pixels exceeds the limit of {maxPixels}");
        var dstInfo = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        // Scratch RGBA from the bounded scratch pool (a photo's is above its 1 MiB limit: allocated, left to the GC).
        var rgba = ScratchBuffers.Bytes.Rent(checked((int)(px * 4)));
        try
        {
            SKCodecResult r;
            unsafe
            {
                fixed (byte* p = rgba)
                    r = codec.GetPixels(dstInfo, (IntPtr)p, new SKCodecOptions(0));
            }
            if (r == SKCodecResult.IncompleteInput) throw new ImageReadException("truncated image data");
            if (r != SKCodecResult.Success) throw new ImageReadException($"decoding failed ({r})");

            int w = info.Width, h = info.Height, ch = gray ? 1 : 3;
            var outPx = new byte[px * ch];
            unsafe
            {
                fixed (byte* pin = rgba)
                fixed (byte* pout = outPx)
                {
                    byte* s = pin;
                    byte* d = pout;
                    if (gray)
                    {
                        for (long i = 0; i < px; i++, s += 4)
                            d[i] = (byte)((s[0] * 4899 + s[1] * 9617 + s[2] * 1868 + 8192) >> 14); // OpenCV's fixed-point BGR2GRAY
                    }
                    else
                    {
                        for (long i = 0; i < px; i++, s += 4, d += 3)
                        {
                            d[0] = s[0]; d[1] = s[1]; d[2] = s[2];
                        }
                    }
                }
            }
            return Orient(new DecodedImage(outPx, w, h, ch), codec.EncodedOrigin);
        }
        finally
        {
            ScratchBuffers.Bytes.Return(rgba);
        }
    }

    /// <summary>Rotates/mirrors so that the image is upright as EXIF orientation says.</summary>
    public static DecodedImage Orient(DecodedImage img, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft || (int)origin == 0) return img;
        int w = img.Width, h = img.Height, ch = img.Channels;
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        int ow = swap ? h : w, oh = swap ? w : h;
        var dst = new byte[img.Pixels.Length];
        for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
        {
            var (sx, sy) = origin switch
            {
                SKEncodedOrigin.TopRight => (w - 1 - x, y),
                SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),
                SKEncodedOrigin.BottomLeft => (x, h - 1 - y),
                SKEncodedOrigin.LeftTop => (y, x),
                SKEncodedOrigin.RightTop => (y, h - 1 - x),
                SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),
                SKEncodedOrigin.LeftBottom => (w - 1 - y, x),
                _ => (x, y),
            };
            Buffer.BlockCopy(img.Pixels, (sy * w + sx) * ch, dst, (y * ow + x) * ch, ch);
        }
        return new DecodedImage(dst, ow, oh, ch);
    }
}

/// <summary>Decoded image → one model input item, exactly as DeepDetect's image connector.</summary>
public static class ImagePreprocessor
{
    /// <summary>
    /// Geometry: resize to width × height (requested filter) and centre-crop to OutWidth × OutHeight. The result stays
    /// interleaved 8-bit in the decoded channel order; <see cref="ImageInputParams.ToNormalization"/> says how it
    /// becomes values (on the CPU or in the GPU backend's kernel).
    /// </summary>
    /// <param name="img">The decoded image.</param>
    /// <param name="p">Resize and crop parameters.</param>
    /// <param name="into">Optional destination of exactly OutHeight × OutWidth × channels bytes; a new array when null.</param>
    public static byte[] ToPixels(DecodedImage img, ImageInputParams p, byte[]? into = null)
    {
        int ch = img.Channels;
        int ow = p.OutWidth, oh = p.OutHeight;
        if (into != null && into.Length != ch * ow * oh)
            throw new ArgumentException($"destination has {into.Length} bytes, the image {ch * ow * oh}", nameof(into));
        var dst = into ?? new byte[ch * ow * oh];
        bool resize = img.Width != p.Width || img.Height != p.Height;
        // The resized image only lives until it is cropped: a pooled buffer (a large array per photo otherwise).
        var resized = resize
            ? Resampler.Resize(img.Pixels, img.Width, img.Height, ch, p.Width, p.Height, p.Interp, ScratchBuffers.Bytes.Rent(p.Width * p.Height * ch))
            : img.Pixels;
        try
        {
            int x0 = (p.Width - ow) / 2, y0 = (p.Height - oh) / 2;
            int row = ow * ch;
            for (int y = 0; y < oh; y++)
                Buffer.BlockCopy(resized, ((y + y0) * p.Width + x0) * ch, dst, y * row, row);
            return dst;
        }
        finally
        {
            if (resize) ScratchBuffers.Bytes.Return(resized);
        }
    }

    /// <summary>
    /// The whole CPU path: <see cref="ToPixels"/>, then channel order (BGR unless rgb) and
    /// value = ((pixel × scale) − mean[c]) / std[c], planar C×H×W.
    /// </summary>
    /// <param name="img">The decoded image.</param>
    /// <param name="p">Resize, crop and normalisation parameters.</param>
    public static float[] ToTensor(DecodedImage img, ImageInputParams p)
    {
        var t = new float[img.Channels * p.OutWidth * p.OutHeight];
        p.ToNormalization().ToPlanar(ToPixels(img, p), p.OutHeight, p.OutWidth, img.Channels, t);
        return t;
    }
}
