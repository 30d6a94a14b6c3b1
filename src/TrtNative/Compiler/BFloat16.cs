namespace TrtNative.Compiler;

/// <summary>bfloat16 bit patterns (the top 16 bits of an fp32): weights converted at lowering, values read back.</summary>
internal static class BFloat16
{
    /// <summary>
    /// fp32 to bf16 with round-to-nearest-even (as the GPU's __float2bfloat16_rn): overflow rounds to ±inf, NaN stays a
    /// (quiet) NaN.
    /// </summary>
    public static ushort FromFloat(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x0040);
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)(bits >> 16);
    }

    /// <summary>bf16 to fp32 (exact).</summary>
    public static float ToFloat(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary><paramref name="f"/> rounded to the nearest bf16 value.</summary>
    public static float Round(float f) => ToFloat(FromFloat(f));
}
