using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>
/// Numpy ("multidirectional") broadcasting over symbolic shapes (<c>Dim[]</c>, for shape functions) and concrete
/// shapes (<c>long[]</c>, for kernels), plus a row iterator that walks several broadcast inputs at once.
/// </summary>
public static class Broadcast
{
    /// <summary>
    /// The broadcast of two dimensions: equal dimensions stay, a known 1 yields to the other, a symbol meeting a
    /// known size other than 1 takes that size (the symbol must then be bound to it or to 1). Returns null when
    /// the two cannot be broadcast (two different known sizes) or the result is not determined (two different symbols).
    /// </summary>
    public static Dim? Dims(Dim a, Dim b)
    {
        if (a == b) return a;
        if (a.IsKnown && a.Factor == 1) return b;
        if (b.IsKnown && b.Factor == 1) return a;
        if (a.IsKnown && b.IsKnown) return null;
        if (a.IsKnown) return a;
        if (b.IsKnown) return b;
        return null;
    }

    /// <summary>Multidirectional broadcast of symbolic shapes; null with a reason when impossible.</summary>
    public static Dim[]? Shapes(IReadOnlyList<IReadOnlyList<Dim>> shapes, out string? reason)
    {
        reason = null;
        int rank = shapes.Count == 0 ? 0 : shapes.Max(s => s.Count);
        var result = new Dim[rank];
        for (int d = 0; d < rank; d++)
        {
            Dim acc = Dim.Of(1);
            foreach (var s in shapes)
            {
                int k = d - (rank - s.Count);
                if (k < 0) continue;
                var next = Dims(acc, s[k]);
                if (next is null)
                {
                    reason = $"shapes {string.Join(" and ", shapes.Select(x => x.Format()))} cannot be broadcast (dimension {d} from the right: {acc} vs {s[k]})";
                    return null;
                }
                acc = next.Value;
            }
            result[d] = acc;
        }
        return result;
    }

    /// <summary>Multidirectional broadcast of concrete shapes; throws <see cref="ErrorCode.ShapeMismatch"/> when impossible.</summary>
    public static long[] Shapes(params long[][] shapes)
    {
        int rank = shapes.Length == 0 ? 0 : shapes.Max(s => s.Length);
        var result = new long[rank];
        for (int d = 0; d < rank; d++)
        {
            long acc = 1;
            foreach (var s in shapes)
            {
                int k = d - (rank - s.Length);
                if (k < 0) continue;
                long v = s[k];
                if (v == acc || v == 1) continue;
                if (acc == 1) { acc = v; continue; }
                throw new TrtNativeException(ErrorCode.ShapeMismatch,
                    $"shapes {string.Join(" and ", shapes.Select(x => x.Format()))} cannot be broadcast");
            }
            result[d] = acc;
        }
        return result;
    }

    /// <summary>True when <paramref name="from"/> broadcasts to exactly <paramref name="to"/> (unidirectional).</summary>
    public static bool CanExpandTo(IReadOnlyList<long> from, IReadOnlyList<long> to)
    {
        if (from.Count > to.Count) return false;
        for (int d = 0; d < from.Count; d++)
        {
            long f = from[from.Count - 1 - d], t = to[to.Count - 1 - d];
            if (f != t && f != 1) return false;
        }
        return true;
    }

    /// <summary>True when symbolic <paramref name="from"/> can broadcast to <paramref name="to"/> without changing it.</summary>
    public static bool CanExpandTo(IReadOnlyList<Dim> from, IReadOnlyList<Dim> to)
    {
        if (from.Count > to.Count) return false;
        for (int d = 0; d < from.Count; d++)
        {
            Dim f = from[from.Count - 1 - d], t = to[to.Count - 1 - d];
            if (f == t || (f.IsKnown && f.Factor == 1)) continue;
            if (f.IsKnown && t.IsKnown) return false;
            if (!t.IsKnown && f.IsKnown) return false; // a fixed size cannot fill a run-time size
        }
        return true;
    }

    /// <summary>Row-major strides of a concrete shape.</summary>
    public static long[] Strides(IReadOnlyList<long> shape)
    {
        var s = new long[shape.Count];
        long acc = 1;
        for (int d = shape.Count - 1; d >= 0; d--) { s[d] = acc; acc *= shape[d]; }
        return s;
    }

    /// <summary>
    /// Plans a walk over <paramref name="outShape"/> reading inputs of shapes <paramref name="inShapes"/> broadcast to
    /// it. Adjacent dimensions that every input treats alike are merged, so the walk is in long contiguous rows.
    /// </summary>
    public static BroadcastPlan Plan(long[] outShape, params long[][] inShapes) => new(outShape, inShapes);

    /// <summary>Materialises <paramref name="t"/> broadcast to <paramref name="shape"/> (a copy, or <paramref name="t"/> when shapes match).</summary>
    public static Tensor Expand(Tensor t, long[] shape)
    {
        if (t.Shape.SequenceEqual(shape)) return t;
        var plan = Plan(shape, t.Shape);
        long n = shape.ElementCount();
        if (t.Floats is { } f)
        {
            var r = new float[n];
            plan.ForEachRow((offs, strides, o, len) =>
            {
                int a = offs[0], sa = strides[0];
                if (sa == 0) r.AsSpan(o, len).Fill(f[a]);
                else f.AsSpan(a, len).CopyTo(r.AsSpan(o, len));
            });
            return Tensor.FromFloats(r, shape, t.Type);
        }
        var src = t.ResolveInts();
        var ri = new long[n];
        plan.ForEachRow((offs, strides, o, len) =>
        {
            int a = offs[0], sa = strides[0];
            if (sa == 0) ri.AsSpan(o, len).Fill(src[a]);
            else src.AsSpan(a, len).CopyTo(ri.AsSpan(o, len));
        });
        return Tensor.FromInts(ri, shape, t.Type);
    }
}

/// <summary>Called once per contiguous output row: input offsets, input strides along the row, output offset, row length.</summary>
public delegate void BroadcastRow(ReadOnlySpan<int> inputOffsets, ReadOnlySpan<int> inputStrides, int outputOffset, int length);

/// <summary>A walk over an output shape with several inputs broadcast to it; see <see cref="Broadcast.Plan"/>.</summary>
public sealed class BroadcastPlan
{
    private readonly long[] _dims;         // merged output dims
    private readonly long[][] _strides;    // per input, per merged dim (0 where broadcast)

    internal BroadcastPlan(long[] outShape, long[][] inShapes)
    {
        OutShape = outShape;
        int rank = outShape.Length;
        var strides = new long[inShapes.Length][];
        for (int i = 0; i < inShapes.Length; i++)
        {
            var s = inShapes[i];
            if (!Broadcast.CanExpandTo(s, outShape))
                throw new TrtNativeException(ErrorCode.ShapeMismatch, $"shape {s.Format()} cannot be broadcast to {outShape.Format()}");
            var own = Broadcast.Strides(s);
            strides[i] = new long[rank];
            for (int d = 0; d < rank; d++)
            {
                int k = d - (rank - s.Length);
                strides[i][d] = k < 0 || s[k] == 1 ? 0 : own[k];
            }
        }

        // Drop size-1 output dims, then merge neighbours where every input is contiguous across them.
        var dims = new List<long>();
        var st = inShapes.Select(_ => new List<long>()).ToArray();
        for (int d = 0; d < rank; d++)
        {
            if (outShape[d] == 1) continue;
            if (dims.Count > 0)
            {
                int last = dims.Count - 1;
                bool mergeable = true;
                for (int i = 0; i < st.Length; i++)
                    if (st[i][last] != strides[i][d] * outShape[d]) { mergeable = false; break; }
                if (mergeable)
                {
                    dims[last] *= outShape[d];
                    for (int i = 0; i < st.Length; i++) st[i][last] = strides[i][d];
                    continue;
                }
            }
            dims.Add(outShape[d]);
            for (int i = 0; i < st.Length; i++) st[i].Add(strides[i][d]);
        }
        _dims = dims.ToArray();
        _strides = st.Select(l => l.ToArray()).ToArray();
    }

    /// <summary>The output shape walked.</summary>
    public long[] OutShape { get; }

    /// <summary>True when every input is read exactly in output order (no broadcasting after merging).</summary>
    public bool IsElementwise => _dims.Length <= 1 && _strides.All(s => s.Length == 0 || s[0] == 1);

    /// <summary>Calls <paramref name="row"/> for each contiguous output row, in order.</summary>
    public void ForEachRow(BroadcastRow row)
    {
        int n = _strides.Length;
        long total = OutShape.ElementCount();
        if (total == 0) return;
        Span<int> offs = stackalloc int[n];
        Span<int> inner = stackalloc int[n];
        if (_dims.Length == 0)
        {
            offs.Clear();
            inner.Clear();
            row(offs, inner, 0, 1);
            return;
        }
        int r = _dims.Length;
        int len = checked((int)_dims[r - 1]);
        for (int i = 0; i < n; i++) inner[i] = (int)_strides[i][r - 1];
        var idx = new long[r - 1];
        var cur = new long[n];
        long rows = total / len;
        int outOff = 0;
        for (long q = 0; q < rows; q++)
        {
            for (int i = 0; i < n; i++) offs[i] = (int)cur[i];
            row(offs, inner, outOff, len);
            outOff += len;
            for (int d = r - 2; d >= 0; d--)
            {
                idx[d]++;
                for (int i = 0; i < n; i++) cur[i] += _strides[i][d];
                if (idx[d] < _dims[d]) break;
                for (int i = 0; i < n; i++) cur[i] -= _strides[i][d] * _dims[d];
                idx[d] = 0;
            }
        }
    }
}
