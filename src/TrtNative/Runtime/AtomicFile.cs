using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace TrtNative.Runtime;

/// <summary>Writes a file so that readers see either the old or the new content, never a mix or a torn file.</summary>
internal static class AtomicFile
{
    /// <summary>
    /// Writes through a temporary file in the same directory (same file system, so the final move is a rename),
    /// flushes it to disk, then moves it over <paramref name="path"/>. On any failure the temporary file is removed
    /// and the old file is left as it was.
    /// </summary>
    /// <param name="path">Destination file.</param>
    /// <param name="write">Writes the whole content to the given stream.</param>
    /// <param name="wrap">Test hook: wraps the file stream (e.g. with one that throws mid-write).</param>
    internal static void Write(string path, Action<Stream> write, Func<Stream, Stream>? wrap = null)
    {
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                var s = wrap is null ? fs : wrap(fs);
                write(s);
                s.Flush();
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}

/// <summary>Little-endian writer for our file formats: length-prefixed UTF-8 strings, fixed-size integers.</summary>
internal sealed class FormatWriter
{
    private readonly MemoryStream _ms = new();

    internal void Bytes(ReadOnlySpan<byte> b) => _ms.Write(b);

    internal void U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); _ms.Write(b); }

    internal void I32(int v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); _ms.Write(b); }

    internal void I64(long v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, v); _ms.Write(b); }

    internal void F64(double v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteDoubleLittleEndian(b, v); _ms.Write(b); }

    internal void Str(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        U32((uint)bytes.Length);
        _ms.Write(bytes);
    }

    internal long Position => _ms.Position;

    /// <summary>The content so far followed by its SHA-256.</summary>
    internal byte[] ToArrayWithChecksum()
    {
        var hash = SHA256.HashData(_ms.GetBuffer().AsSpan(0, (int)_ms.Length));
        _ms.Write(hash);
        return _ms.ToArray();
    }
}

/// <summary>Bounds-checked reader; running off the end throws <see cref="FormatException"/> with what was being read.</summary>
internal ref struct FormatReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    internal FormatReader(ReadOnlySpan<byte> data) { _data = data; _pos = 0; }

    internal int Position => _pos;

    internal int Remaining => _data.Length - _pos;

    internal ReadOnlySpan<byte> Bytes(int n, string what)
    {
        if (n < 0 || n > Remaining)
            throw new FormatException($"truncated: {what} needs {n} bytes at offset {_pos}, only {Remaining} left");
        var s = _data.Slice(_pos, n);
        _pos += n;
        return s;
    }

    internal uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4, what));

    internal int I32(string what) => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4, what));

    internal long I64(string what) => BinaryPrimitives.ReadInt64LittleEndian(Bytes(8, what));

    internal double F64(string what) => BinaryPrimitives.ReadDoubleLittleEndian(Bytes(8, what));

    internal string Str(string what)
    {
        uint n = U32(what + " length");
        if (n > int.MaxValue)
            throw new FormatException($"{what} length {n} is impossible");
        var b = Bytes((int)n, what);
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(b);
        }
        catch (DecoderFallbackException)
        {
            throw new FormatException($"{what} is not valid UTF-8");
        }
    }
}
