using TrtNative.Runtime;

namespace TrtNative.Server.Imaging;

/// <summary>
/// A JPEG left encoded for the GPU backend's decoder (<see cref="JpegHeader.GpuDecodable"/> said it may take it), with
/// what the geometry needs on the GPU and what the CPU path needs to take the file over when nvJPEG refuses it.
/// </summary>
/// <param name="Data">The file's bytes (read only).</param>
/// <param name="Input">Resize, crop and channel parameters of the predict.</param>
/// <param name="MaxPixels">The server's pixel limit, for the CPU path.</param>
public sealed record EncodedJpeg(byte[] Data, ImageInputParams Input, long MaxPixels)
{
    /// <summary>Bytes of the prepared image: OutHeight × OutWidth × channels.</summary>
    public int PixelBytes => Input.OutWidth * Input.OutHeight * Input.Channels;

    /// <summary>The resize on the GPU of decoded image <paramref name="image"/> into byte <paramref name="offset"/>: the same
    /// geometry as <see cref="ImagePreprocessor.ToPixels"/> (resize to Width × Height, centre crop).</summary>
    public JpegResize GpuResize(int image, long offset) => new(image, offset, Input.Width, Input.Height,
        (Input.Width - Input.OutWidth) / 2, (Input.Height - Input.OutHeight) / 2, Filter(Input.Interp));

    /// <summary>The CPU path for this file (SkiaSharp, then <see cref="ImagePreprocessor.ToPixels"/>), into <paramref name="destination"/>.</summary>
    /// <exception cref="ImageReadException">The file cannot be read.</exception>
    public void DecodeOnCpu(Span<byte> destination)
    {
        var img = ImageDecoder.Decode(Data, Input.Bw, MaxPixels);
        ImagePreprocessor.ToPixels(img, Input).AsSpan().CopyTo(destination);
    }

    /// <summary>The GPU resize filter of a DeepDetect interpolation.</summary>
    public static ResizeFilter Filter(Interp interp) => interp switch
    {
        Interp.Nearest => ResizeFilter.Nearest,
        Interp.Linear => ResizeFilter.Linear,
        Interp.Cubic => ResizeFilter.Cubic,
        Interp.Area => ResizeFilter.Area,
        Interp.Lanczos4 => ResizeFilter.Lanczos4,
        _ => throw new ArgumentOutOfRangeException(nameof(interp), interp, "unknown interpolation"),
    };
}
