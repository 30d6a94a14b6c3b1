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
        var rgba = new byte[px * 4];
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
        for (long i = 0; i < px; i++)
        {
            byte R = rgba[i * 4], G = rgba[i * 4 + 1], B = rgba[i * 4 + 2];
            if (gray)
                outPx[i] = (byte)((R * 4899 + G * 9617 + B * 1868 + 8192) >> 14); // OpenCV's fixed-point BGR2GRAY
            else
            {
                outPx[i * 3] = R; outPx[i * 3 + 1] = G; outPx[i * 3 + 2] = B;
            }
        }
        return Orient(new DecodedImage(outPx, w, h, ch), codec.EncodedOrigin);
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

/// <summary>Decoded image → NCHW float tensor for one item, exactly as DeepDetect's image connector.</summary>
public static class ImagePreprocessor
{
    /// <summary>
    /// Resize to width × height (requested filter), centre-crop, reorder channels (BGR unless rgb), then
    /// value = ((pixel × scale) − mean[c]) / std[c], planar C×H×W.
    /// </summary>
    public static float[] ToTensor(DecodedImage img, ImageInputParams p)
    {
        int ch = img.Channels;
        var resized = Resampler.Resize(img.Pixels, img.Width, img.Height, ch, p.Width, p.Height, p.Interp);
        int ow = p.OutWidth, oh = p.OutHeight;
        int x0 = (p.Width - ow) / 2, y0 = (p.Height - oh) / 2;
        var t = new float[ch * ow * oh];
        for (int c = 0; c < ch; c++)
        {
            int srcC = ch == 1 ? 0 : (p.Rgb ? c : 2 - c);
            float mean = p.Mean?[c] ?? 0f, std = p.Std?[c] ?? 1f;
            int plane = c * ow * oh;
            for (int y = 0; y < oh; y++)
            {
                int srow = ((y + y0) * p.Width + x0) * ch;
                for (int x = 0; x < ow; x++)
                    t[plane + y * ow + x] = (resized[srow + x * ch + srcC] * p.Scale - mean) / std;
            }
        }
        return t;
    }
}
