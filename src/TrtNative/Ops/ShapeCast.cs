using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>
/// Element type conversion with ONNX Cast semantics on our host representation: floating types are stored as
/// float (float16 and bfloat16 values rounded to their precision), integer and bool types as long (wrapped to
/// their width). Float to integer truncates toward zero; anything to bool is "not zero".
/// </summary>
internal static class ShapeCast
{
    /// <summary>Converts <paramref name="x"/> to <paramref name="to"/>; returns it unchanged when the type already matches.</summary>
    public static Tensor Convert(Tensor x, DataType to)
    {
        if (x.Type == to) return x;
        long n = x.Length;
        if (to.IsFloating())
        {
            var o = new float[n];
            if (x.Floats is { } f) for (long i = 0; i < n; i++) o[i] = RoundTo(f[i], to);
            else { var s = x.ResolveInts(); for (long i = 0; i < n; i++) o[i] = RoundTo(IntToFloat(s[i], x.Type), to); }
            return Tensor.FromFloats(o, x.Shape, to);
        }
        if (!to.IsIntegral()) throw new TrtNativeException(ErrorCode.Unsupported, $"cast to {to.OnnxName()} is not supported");
        var r = new long[n];
        if (x.Floats is { } g) for (long i = 0; i < n; i++) r[i] = to == DataType.Bool ? (g[i] != 0 ? 1 : 0) : Wrap(Truncate(g[i]), to);
        else { var s = x.ResolveInts(); for (long i = 0; i < n; i++) r[i] = Wrap(s[i], to); }
        return Tensor.FromInts(r, x.Shape, to);
    }

    /// <summary>A value rounded to the precision of a floating type (float16: nearest even; bfloat16: nearest even).</summary>
    public static float RoundTo(float v, DataType t) => t switch
    {
        DataType.Float16 => (float)(Half)v,
        DataType.BFloat16 => RoundToBFloat16(v),
        _ => v,
    };

    /// <summary>Rounds to the nearest bfloat16 (ties to even), keeping NaN a NaN.</summary>
    public static float RoundToBFloat16(float v)
    {
        if (float.IsNaN(v)) return v;
        uint b = BitConverter.SingleToUInt32Bits(v);
        b += 0x7FFFu + ((b >> 16) & 1);
        return BitConverter.UInt32BitsToSingle(b & 0xFFFF0000u);
    }

    /// <summary>Integer storage to float (uint64 is stored as long bits).</summary>
    private static float IntToFloat(long v, DataType from) => from == DataType.UInt64 ? (float)(ulong)v : v;

    /// <summary>Toward zero, saturating at the long range; NaN gives 0.</summary>
    private static long Truncate(float v)
    {
        if (float.IsNaN(v)) return 0;
        double t = Math.Truncate((double)v);
        return t >= 9.2233720368547758E18 ? long.MaxValue : t <= -9.2233720368547758E18 ? long.MinValue : (long)t;
    }

    /// <summary>Two's-complement wrap to the width of an integer type, as a C cast does.</summary>
    public static long Wrap(long v, DataType t) => t switch
    {
        DataType.Bool => v != 0 ? 1 : 0,
        DataType.Int8 => (sbyte)v,
        DataType.UInt8 => (byte)v,
        DataType.Int16 => (short)v,
        DataType.UInt16 => (ushort)v,
        DataType.Int32 => (int)v,
        DataType.UInt32 => (uint)v,
        _ => v,
    };
}
