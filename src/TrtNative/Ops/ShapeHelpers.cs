using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>
/// Helpers shared by the shape/tensor ops and Resize/Pad: axis normalisation, strides, and data movement that
/// works on float and integer tensors alike (most of these ops only move elements around).
/// </summary>
internal static class ShapeHelpers
{
    /// <summary>ONNX's "no bound" markers for Slice starts/ends are INT_MAX/INT_MIN of int32 or int64.</summary>
    public const long BigBound = int.MaxValue;

    /// <summary>Axis in [-rank, rank) made non-negative; throws naming the node otherwise.</summary>
    public static int Axis(long axis, int rank, Func<string, Exception> error, string what = "axis")
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw error($"{what} {axis} is out of range for rank {rank}");
        return (int)a;
    }

    /// <summary>Distinct axes normalised against <paramref name="rank"/>.</summary>
    public static int[] Axes(IEnumerable<long> axes, int rank, Func<string, Exception> error, string what = "axes")
    {
        var r = axes.Select(a => Axis(a, rank, error, what.TrimEnd('s'))).ToArray();
        if (r.Distinct().Count() != r.Length) throw error($"{what} [{string.Join(",", axes)}] repeat an axis");
        return r;
    }

    /// <summary>Row-major strides of a concrete shape.</summary>
    public static long[] Strides(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>Product of shape[from..to).</summary>
    public static long Product(long[] shape, int from, int to)
    {
        long p = 1;
        for (int i = from; i < to; i++) p *= shape[i];
        return p;
    }

    /// <summary>A tensor of the same element type as <paramref name="like"/> with new data.</summary>
    public static Tensor Like(Tensor like, long[] shape, float[]? floats, long[]? ints) =>
        floats is not null ? Tensor.FromFloats(floats, shape, like.Type) : Tensor.FromInts(ints!, shape, like.Type);

    /// <summary>
    /// Builds a tensor of <paramref name="shape"/> whose element k is <c>src[map[k]]</c>, or the fill value where
    /// map[k] is negative. Works for float and integer tensors.
    /// </summary>
    public static Tensor Remap(Tensor src, long[] shape, long[] map, double fill = 0)
    {
        if (src.Floats is { } f)
        {
            var o = new float[map.Length];
            float fv = (float)fill;
            for (int k = 0; k < o.Length; k++) o[k] = map[k] >= 0 ? f[map[k]] : fv;
            return Tensor.FromFloats(o, shape, src.Type);
        }
        var s = src.ResolveInts();
        var oi = new long[map.Length];
        long iv = (long)fill;
        for (int k = 0; k < oi.Length; k++) oi[k] = map[k] >= 0 ? s[map[k]] : iv;
        return Tensor.FromInts(oi, shape, src.Type);
    }

    /// <summary>
    /// The source index of every output element, for a data movement that is separable per output axis: output
    /// coordinate c on axis d contributes <c>offsets[d][c]</c> (an element offset into the source) and the output
    /// shape is the lengths of <paramref name="offsets"/>. A negative contribution marks "no source" (fill value).
    /// </summary>
    public static long[] OffsetMap(long[][] offsets)
    {
        int rank = offsets.Length;
        var outShape = offsets.Select(a => (long)a.Length).ToArray();
        long n = outShape.ElementCount();
        var map = new long[n];
        if (n == 0) return map;
        if (rank == 0) { map[0] = 0; return map; }
        // Walk the output in row-major order, keeping the source offset of each prefix of the coordinate.
        var coord = new int[rank];
        var partial = new long[rank + 1]; // partial[d + 1] = offset from axes 0..d, or -1 for fill
        for (int d = 0; d < rank; d++) partial[d + 1] = Step(partial[d], offsets[d][0]);
        for (long k = 0; k < n; k++)
        {
            map[k] = partial[rank];
            int ax = rank - 1;
            while (ax >= 0)
            {
                if (++coord[ax] < outShape[ax]) break;
                coord[ax] = 0;
                ax--;
            }
            if (ax < 0) break;
            for (int d = ax; d < rank; d++) partial[d + 1] = Step(partial[d], offsets[d][coord[d]]);
        }
        return map;

        static long Step(long prefix, long off) => prefix < 0 || off < 0 ? -1 : prefix + off;
    }

    /// <summary>Reads a 1-element tensor (any type) as a double.</summary>
    public static double ScalarValue(Tensor t) =>
        t.Length != 1 ? throw new TrtNativeException(ErrorCode.ShapeMismatch, $"expected a single value, got {t}")
        : t.Floats is { } f ? f[0] : t.ResolveInts()[0];

    /// <summary>The float values of a float tensor (as double); integers are accepted too.</summary>
    public static double[] Doubles(Tensor t) => t.Floats is { } f ? f.Select(x => (double)x).ToArray() : t.ResolveInts().Select(x => (double)x).ToArray();
}
