using System.Buffers.Binary;

namespace TrtNative.Server.Imaging;

/// <summary>What the markers before a JPEG's image data say (<see cref="JpegHeader.Read"/>).</summary>
/// <param name="Width">Frame width in pixels.</param>
/// <param name="Height">Frame height in pixels.</param>
/// <param name="Components">Colour components of the frame (1 grey, 3 YCbCr or RGB, 4 CMYK/YCCK).</param>
/// <param name="Process">The frame's coding process: 0xC0 baseline, 0xC1 extended sequential, 0xC2 progressive, …</param>
/// <param name="Precision">Bits per sample.</param>
/// <param name="Orientation">EXIF orientation (1 = upright, also when there is none).</param>
/// <param name="AdobeTransform">The Adobe APP14 marker's colour transform (0 none, 1 YCbCr, 2 YCCK), or -1 without one.</param>
/// <param name="RgbComponentIds">True when the three component ids are 'R', 'G', 'B' (stored as RGB, not YCbCr).</param>
public sealed record JpegInfo(int Width, int Height, int Components, int Process, int Precision, int Orientation, int AdobeTransform,
    bool RgbComponentIds);

/// <summary>
/// Reads a JPEG's markers up to the first scan, without decoding, to decide whether the GPU decoder (nvJPEG) may take the
/// file: baseline, extended-sequential or progressive Huffman-coded 8-bit JPEGs with 1 or 3 components stored as YCbCr
/// (or grey), upright (no EXIF orientation other than 1). Anything else (PNG, WebP, BMP, GIF, CMYK/YCCK, RGB-coded
/// JPEGs, arithmetic coding, 12-bit, rotated photos) stays on the SkiaSharp path, which handles all of it.
/// </summary>
public static class JpegHeader
{
    /// <summary>The header, or null when <paramref name="data"/> is not a JPEG or its markers end before a frame header.</summary>
    public static JpegInfo? Read(ReadOnlySpan<byte> data)
    {
        if (data.Length < 4 || data[0] != 0xFF || data[1] != 0xD8) return null;
        int pos = 2, orientation = 1, adobe = -1;
        while (pos + 4 <= data.Length)
        {
            if (data[pos] != 0xFF) return null;
            byte marker = data[pos + 1];
            if (marker == 0xFF) { pos++; continue; }  // fill byte
            if (marker is 0xD8 or 0x01 or (>= 0xD0 and <= 0xD7)) { pos += 2; continue; }  // no length
            if (marker is 0xD9 or 0xDA) return null;  // end of image or a scan before any frame header
            int len = BinaryPrimitives.ReadUInt16BigEndian(data[(pos + 2)..]);
            if (len < 2 || pos + 2 + len > data.Length) return null;
            var seg = data.Slice(pos + 4, len - 2);
            if (marker == 0xE1 && seg.Length >= 14 && seg[..6].SequenceEqual("Exif\0\0"u8))
                orientation = ExifOrientation(seg[6..]);
            else if (marker == 0xEE && seg.Length >= 12 && seg[..5].SequenceEqual("Adobe"u8))
                adobe = seg[11];
            else if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                // SOFn: precision, height, width, components, then (id, sampling, table) per component.
                if (seg.Length < 6) return null;
                int comps = seg[5];
                if (seg.Length < 6 + 3 * comps) return null;
                bool rgbIds = comps == 3 && seg[6] == 'R' && seg[9] == 'G' && seg[12] == 'B';
                // Frame header first, then the markers after it up to the scan may still carry EXIF or Adobe data.
                var (o, a) = MarkersAfterFrame(data, pos + 2 + len);
                return new JpegInfo(BinaryPrimitives.ReadUInt16BigEndian(seg[3..]), BinaryPrimitives.ReadUInt16BigEndian(seg[1..]), comps,
                    marker, seg[0], o ?? orientation, a ?? adobe, rgbIds);
            }
            pos += 2 + len;
        }
        return null;
    }

    /// <summary>
    /// True when the GPU decoder may take the file (see the class summary) and it has at most
    /// <paramref name="maxPixels"/> pixels (larger ones go to the CPU path, which refuses them with its message).
    /// </summary>
    public static bool GpuDecodable(ReadOnlySpan<byte> data, long maxPixels) => Read(data) is { } h && WhyNotGpu(h, maxPixels) == null;

    /// <summary>Why the GPU decoder must not take a file with header <paramref name="h"/>, or null when it may.</summary>
    public static string? WhyNotGpu(JpegInfo h, long maxPixels)
    {
        if (h.Process is not (0xC0 or 0xC1 or 0xC2)) return $"coding process SOF{h.Process - 0xC0} (only baseline, extended sequential and progressive Huffman)";
        if (h.Precision != 8) return $"{h.Precision}-bit samples";
        if (h.Components is not (1 or 3)) return $"{h.Components} components (CMYK/YCCK or other)";
        if (h.Components == 3 && (h.AdobeTransform == 0 || h.RgbComponentIds)) return "RGB-coded (no YCbCr transform)";
        if (h.AdobeTransform == 2) return "YCCK";
        if (h.Orientation != 1) return $"EXIF orientation {h.Orientation}";
        if (h.Width <= 0 || h.Height <= 0) return $"frame size {h.Width}x{h.Height}";
        if ((long)h.Width * h.Height > maxPixels) return $"{(long)h.Width * h.Height} pixels, over the limit of {maxPixels}";
        return null;
    }

    private static (int? Orientation, int? Adobe) MarkersAfterFrame(ReadOnlySpan<byte> data, int pos)
    {
        int? orientation = null, adobe = null;
        while (pos + 4 <= data.Length && data[pos] == 0xFF)
        {
            byte marker = data[pos + 1];
            if (marker == 0xFF) { pos++; continue; }
            if (marker is 0xDA or 0xD9 or 0xD8 or (>= 0xD0 and <= 0xD7) or 0x01) break;
            int len = BinaryPrimitives.ReadUInt16BigEndian(data[(pos + 2)..]);
            if (len < 2 || pos + 2 + len > data.Length) break;
            var seg = data.Slice(pos + 4, len - 2);
            if (marker == 0xE1 && seg.Length >= 14 && seg[..6].SequenceEqual("Exif\0\0"u8)) orientation = ExifOrientation(seg[6..]);
            else if (marker == 0xEE && seg.Length >= 12 && seg[..5].SequenceEqual("Adobe"u8)) adobe = seg[11];
            pos += 2 + len;
        }
        return (orientation, adobe);
    }

    // The orientation tag (0x0112) of IFD0 of an EXIF TIFF block; 1 when absent. A damaged block counts as rotated (0)
    // so that the file takes the CPU path, whose decoder decides what the orientation is.
    private static int ExifOrientation(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8) return 0;
        bool le = tiff[0] == 'I' && tiff[1] == 'I';
        if (!le && !(tiff[0] == 'M' && tiff[1] == 'M')) return 0;
        uint ifd = le ? BinaryPrimitives.ReadUInt32LittleEndian(tiff[4..]) : BinaryPrimitives.ReadUInt32BigEndian(tiff[4..]);
        if (ifd > (uint)tiff.Length - 2) return 0;
        int count = U16(tiff, (int)ifd, le);
        for (int i = 0; i < count; i++)
        {
            int e = (int)ifd + 2 + 12 * i;
            if (e + 12 > tiff.Length) return 0;
            if (U16(tiff, e, le) == 0x0112) return U16(tiff, e + 8, le);
        }
        return 1;
    }

    private static ushort U16(ReadOnlySpan<byte> b, int at, bool le) =>
        le ? BinaryPrimitives.ReadUInt16LittleEndian(b[at..]) : BinaryPrimitives.ReadUInt16BigEndian(b[at..]);
}
