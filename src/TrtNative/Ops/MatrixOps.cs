using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>Gemm (transA, transB, alpha, beta, C broadcast to [M, N]) and MatMul (numpy: 1-D promotion, batch broadcasting).</summary>
internal static class MatrixOps
{
    public static void Register(OpRegistry r)
    {
        r.Add("Gemm", InferGemm, ctx => ctx.SetOutput(0, ExecGemm(ctx, ctx.Input(0), ctx.Input(1), ctx.OptionalInput(2), Activation.None)));
        r.Add("MatMul", InferMatMul, ctx => ctx.SetOutput(0, MatMul(ctx.Input(0), ctx.Input(1))));
    }

    // ---------------------------------------------------------------- Gemm

    /// <summary>Shape function shared with trtnative.FusedGemm.</summary>
    internal static void InferGemm(InferenceContext ctx) => InferGemm(ctx, fused: false);

    /// <summary>Gemm's shape function; the fused form has no opset history, so C is always optional there.</summary>
    internal static void InferGemm(InferenceContext ctx, bool fused)
    {
        var ta = ctx.InputType(0);
        if (!ta.IsFloating()) throw ctx.Unsupported($"input type {ta.OnnxName()} is not supported; Gemm takes floating types");
        var a = ctx.InputShape(0);
        var b = ctx.InputShape(1);
        if (a.Length != 2 || b.Length != 2) throw ctx.Error($"A and B must be 2-D, got {a.Format()} and {b.Format()}");
        bool transA = ctx.Node.GetInt("transA", 0) != 0, transB = ctx.Node.GetInt("transB", 0) != 0;
        Dim m = transA ? a[1] : a[0], ka = transA ? a[0] : a[1];
        Dim kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1];
        if (ka.IsKnown && kb.IsKnown && ka != kb || !ka.IsKnown && !kb.IsKnown && ka != kb)
            throw ctx.Error($"inner dimensions differ: A {a.Format()}{(transA ? "ᵀ" : "")} · B {b.Format()}{(transB ? "ᵀ" : "")}");
        if (ctx.HasInput(2))
        {
            var c = ctx.InputShape(2);
            if (!Broadcast.CanExpandTo(c, [m, n]))
                throw ctx.Error($"C {c.Format()} cannot be broadcast to the result [{m},{n}]");
        }
        else if (ctx.Opset < 11 && !fused)
            throw ctx.Error("input C is required before opset 11");
        ctx.SetOutput(0, ta, [m, n]);
    }

    /// <summary>Y = act(alpha·A'·B' + beta·C).</summary>
    internal static Tensor ExecGemm(KernelContext ctx, Tensor a, Tensor b, Tensor? c, Activation act)
    {
        bool transA = ctx.Node.GetInt("transA", 0) != 0, transB = ctx.Node.GetInt("transB", 0) != 0;
        float alpha = ctx.Node.GetFloat("alpha", 1f), beta = ctx.Node.GetFloat("beta", 1f);
        int m = (int)(transA ? a.Shape[1] : a.Shape[0]), k = (int)(transA ? a.Shape[0] : a.Shape[1]);
        int kb = (int)(transB ? b.Shape[1] : b.Shape[0]), n = (int)(transB ? b.Shape[0] : b.Shape[1]);
        if (k != kb) throw ctx.Error($"inner dimensions differ: A {a.Shape.Format()} · B {b.Shape.Format()} (transA={(transA ? 1 : 0)}, transB={(transB ? 1 : 0)})");
        var af = transA ? Transpose(a.ToFloats(), k, m) : a.ToFloats();
        var bf = transB ? Transpose(b.ToFloats(), n, k) : b.ToFloats();
        var y = new float[(long)m * n];
        Sgemm.Multiply(m, n, k, af, k, bf, n, y, n, accumulate: false);
        if (alpha != 1) for (int i = 0; i < y.Length; i++) y[i] *= alpha;
        if (c is not null && beta != 0)
        {
            var shape = new long[] { m, n };
            if (!Broadcast.CanExpandTo(c.Shape, shape)) throw ctx.Error($"C {c.Shape.Format()} cannot be broadcast to [{m},{n}]");
            var cf = Broadcast.Expand(Tensor.FromFloats(c.ToFloats(), c.Shape), shape).Floats!;
            for (int i = 0; i < y.Length; i++) y[i] += beta * cf[i];
        }
        act.Apply(y);
        return Tensor.FromFloats(y, [m, n], a.Type);
    }

    internal static float[] Transpose(float[] x, int rows, int cols)
    {
        var t = new float[x.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                t[(long)j * rows + i] = x[(long)i * cols + j];
        return t;
    }

    // ---------------------------------------------------------------- MatMul

    /// <summary>Shape function shared with trtnative.FusedMatMul.</summary>
    internal static void InferMatMul(InferenceContext ctx)
    {
        var ta = ctx.InputType(0);
        if (!ta.IsFloating()) throw ctx.Unsupported($"input type {ta.OnnxName()} is not supported; MatMul takes floating types");
        ctx.SetOutput(0, ta, MatMulShape(ctx.InputShape(0), ctx.InputShape(1), ctx.Error));
    }

    internal static Dim[] MatMulShape(Dim[] a, Dim[] b, Func<string, Exception> error)
    {
        if (a.Length == 0 || b.Length == 0) throw error("MatMul inputs must have rank ≥ 1");
        var a2 = a.Length == 1 ? new[] { Dim.Of(1), a[0] } : a;
        var b2 = b.Length == 1 ? new[] { b[0], Dim.Of(1) } : b;
        Dim ka = a2[^1], kb = b2[^2];
        if (ka != kb && (ka.IsKnown && kb.IsKnown || !ka.IsKnown && !kb.IsKnown))
            throw error($"inner dimensions differ: {a.Format()} · {b.Format()}");
        var batch = Broadcast.Shapes([a2[..^2], b2[..^2]], out var why) ?? throw error($"batch dimensions: {why}");
        var shape = new List<Dim>(batch);
        if (a.Length > 1) shape.Add(a2[^2]);
        if (b.Length > 1) shape.Add(b2[^1]);
        return shape.ToArray();
    }

    /// <summary>Numpy matmul of two floating tensors; the result has A's type.</summary>
    internal static Tensor MatMul(Tensor a, Tensor b)
    {
        var aShape = a.Rank == 1 ? new[] { 1L, a.Shape[0] } : a.Shape;
        var bShape = b.Rank == 1 ? new[] { b.Shape[0], 1L } : b.Shape;
        int m = (int)aShape[^2], k = (int)aShape[^1], n = (int)bShape[^1];
        if (bShape[^2] != k) throw new TrtNativeException(ErrorCode.ShapeMismatch, $"MatMul: inner dimensions differ: {a.Shape.Format()} · {b.Shape.Format()}");
        long[] aBatch = aShape[..^2], bBatch = bShape[..^2];
        var batch = Broadcast.Shapes(aBatch, bBatch);
        var outShape = new List<long>(batch);
        if (a.Rank > 1) outShape.Add(m);
        if (b.Rank > 1) outShape.Add(n);
        var af = a.ToFloats();
        var bf = b.ToFloats();
        long batches = batch.ElementCount();
        var y = new float[batches * m * n];

        if (bBatch.ElementCount() == 1 && aBatch.ElementCount() == batches)
        {
            // B shared by every batch entry: one tall GEMM (the Linear-layer case).
            Sgemm.Multiply((int)(batches * m), n, k, af, k, bf, n, y, n, accumulate: false);
        }
        else
        {
            var pairs = new List<(long A, long B)>();
            Broadcast.Plan(batch, aBatch, bBatch).ForEachRow((offs, st, o, len) =>
            {
                for (int q = 0; q < len; q++) pairs.Add((offs[0] + (long)q * st[0], offs[1] + (long)q * st[1]));
            });
            long work = (long)m * n * k;
            if (pairs.Count >= 2 && work < (1 << 22))
                Parallel.For(0, pairs.Count, p => Sgemm.Multiply(m, n, k, af.AsSpan((int)(pairs[p].A * m * k)), k,
                    bf.AsSpan((int)(pairs[p].B * k * n)), n, y.AsSpan((int)((long)p * m * n)), n, accumulate: false, parallel: false));
            else
                for (int p = 0; p < pairs.Count; p++)
                    Sgemm.Multiply(m, n, k, af.AsSpan((int)(pairs[p].A * m * k)), k,
                        bf.AsSpan((int)(pairs[p].B * k * n)), n, y.AsSpan((int)((long)p * m * n)), n, accumulate: false);
        }
        return Tensor.FromFloats(y, outShape.ToArray(), a.Type);
    }
}

/// <summary>
/// Single-precision matrix product C (+)= A·B on row-major matrices: B is packed into 16-column panels per block of
/// 256 rows of K, a 6×16 register-blocked kernel (Vector256 FMA) walks the rows of A, and tiles of C are spread over
/// cores. Accumulation is fp32 in K blocks, like the BLAS libraries we compare against.
/// </summary>
internal static class Sgemm
{
    private const int MR = 6, NR = 16, KC = 256, NC = 256;

    /// <summary>C[m×n] = (or +=) A[m×k]·B[k×n]; leading dimensions lda, ldb, ldc in elements.</summary>
    public static unsafe void Multiply(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb,
        Span<float> c, int ldc, bool accumulate, bool parallel = true)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) c.Slice(i * ldc, n).Clear();
            return;
        }
        if (a.Length < (long)(m - 1) * lda + k || b.Length < (long)(k - 1) * ldb + n || c.Length < (long)(m - 1) * ldc + n)
            throw new ArgumentException("Sgemm: a buffer is smaller than its matrix");

        int nTiles = (n + NC - 1) / NC;
        int mChunks = 1;
        if (parallel)
        {
            int wantTasks = Environment.ProcessorCount * 4;
            if (nTiles < wantTasks) mChunks = Math.Max(1, Math.Min((m + 47) / 48, (wantTasks + nTiles - 1) / nTiles));
        }
        int mStep = (m + mChunks - 1) / mChunks;
        mStep = (mStep + MR - 1) / MR * MR;
        mChunks = (m + mStep - 1) / mStep;
        int tasks = nTiles * mChunks;
        long flops = (long)m * n * k;

        fixed (float* pa = a, pb = b, pc = c)
        {
            nint ia = (nint)pa, ib = (nint)pb, ic = (nint)pc;
            void Tile(int t)
            {
                int nt = t % nTiles, mt = t / nTiles;
                int n0 = nt * NC, nc = Math.Min(NC, n - n0);
                int m0 = mt * mStep, mc = Math.Min(mStep, m - m0);
                var pack = ArrayPool<float>.Shared.Rent(KC * ((nc + NR - 1) / NR * NR));
                try
                {
                    fixed (float* pk = pack)
                        TileKernel((float*)ia + (long)m0 * lda, lda, (float*)ib + n0, ldb, (float*)ic + (long)m0 * ldc + n0, ldc, mc, nc, k, accumulate, pk);
                }
                finally { ArrayPool<float>.Shared.Return(pack); }
            }
            if (parallel && tasks > 1 && flops > 1 << 16) Parallel.For(0, tasks, Tile);
            else for (int t = 0; t < tasks; t++) Tile(t);
        }
    }

    private static unsafe void TileKernel(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int n, int k, bool accumulate, float* pack)
    {
        int panels = (n + NR - 1) / NR;
        float* tmp = stackalloc float[MR * NR];
        for (int k0 = 0; k0 < k; k0 += KC)
        {
            int kc = Math.Min(KC, k - k0);
            // Pack B[k0:k0+kc, 0:n] into panels [panel][kc][16], zero-padding the last panel.
            for (int p = 0; p < panels; p++)
            {
                int j0 = p * NR, w = Math.Min(NR, n - j0);
                float* dst = pack + (long)p * kc * NR;
                for (int kk = 0; kk < kc; kk++)
                {
                    float* src = b + (long)(k0 + kk) * ldb + j0;
                    float* d = dst + kk * NR;
                    if (w == NR) { Vector256.Store(Vector256.Load(src), d); Vector256.Store(Vector256.Load(src + 8), d + 8); }
                    else { int j = 0; for (; j < w; j++) d[j] = src[j]; for (; j < NR; j++) d[j] = 0; }
                }
            }
            bool load = accumulate || k0 > 0;
            for (int p = 0; p < panels; p++)
            {
                int j0 = p * NR, w = Math.Min(NR, n - j0);
                float* bp = pack + (long)p * kc * NR;
                int i = 0;
                for (; i + MR <= m; i += MR)
                {
                    float* ct = c + (long)i * ldc + j0;
                    float* ap = a + (long)i * lda + k0;
                    if (w == NR) Kernel6x16(kc, ap, lda, bp, ct, ldc, load);
                    else
                    {
                        for (int r = 0; r < MR; r++) for (int j = 0; j < NR; j++) tmp[r * NR + j] = load && j < w ? ct[(long)r * ldc + j] : 0;
                        Kernel6x16(kc, ap, lda, bp, tmp, NR, true);
                        for (int r = 0; r < MR; r++) for (int j = 0; j < w; j++) ct[(long)r * ldc + j] = tmp[r * NR + j];
                    }
                }
                for (; i < m; i++)
                {
                    float* ct = c + (long)i * ldc + j0;
                    float* ap = a + (long)i * lda + k0;
                    if (w == NR) Kernel1x16(kc, ap, bp, ct, load);
                    else
                    {
                        for (int j = 0; j < NR; j++) tmp[j] = load && j < w ? ct[j] : 0;
                        Kernel1x16(kc, ap, bp, tmp, true);
                        for (int j = 0; j < w; j++) ct[j] = tmp[j];
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel6x16(int kc, float* a, int lda, float* bp, float* c, int ldc, bool load)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (load)
        {
            c00 = Vector256.Load(c); c01 = Vector256.Load(c + 8);
            c10 = Vector256.Load(c + ldc); c11 = Vector256.Load(c + ldc + 8);
            c20 = Vector256.Load(c + 2 * ldc); c21 = Vector256.Load(c + 2 * ldc + 8);
            c30 = Vector256.Load(c + 3 * ldc); c31 = Vector256.Load(c + 3 * ldc + 8);
            c40 = Vector256.Load(c + 4 * ldc); c41 = Vector256.Load(c + 4 * ldc + 8);
            c50 = Vector256.Load(c + 5 * ldc); c51 = Vector256.Load(c + 5 * ldc + 8);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda;
        for (int kk = 0; kk < kc; kk++, bp += NR)
        {
            var b0 = Vector256.Load(bp);
            var b1 = Vector256.Load(bp + 8);
            var v = Vector256.Create(a0[kk]); c00 = Vector256.FusedMultiplyAdd(v, b0, c00); c01 = Vector256.FusedMultiplyAdd(v, b1, c01);
            v = Vector256.Create(a1[kk]); c10 = Vector256.FusedMultiplyAdd(v, b0, c10); c11 = Vector256.FusedMultiplyAdd(v, b1, c11);
            v = Vector256.Create(a2[kk]); c20 = Vector256.FusedMultiplyAdd(v, b0, c20); c21 = Vector256.FusedMultiplyAdd(v, b1, c21);
            v = Vector256.Create(a3[kk]); c30 = Vector256.FusedMultiplyAdd(v, b0, c30); c31 = Vector256.FusedMultiplyAdd(v, b1, c31);
            v = Vector256.Create(a4[kk]); c40 = Vector256.FusedMultiplyAdd(v, b0, c40); c41 = Vector256.FusedMultiplyAdd(v, b1, c41);
            v = Vector256.Create(a5[kk]); c50 = Vector256.FusedMultiplyAdd(v, b0, c50); c51 = Vector256.FusedMultiplyAdd(v, b1, c51);
        }
        Vector256.Store(c00, c); Vector256.Store(c01, c + 8);
        Vector256.Store(c10, c + ldc); Vector256.Store(c11, c + ldc + 8);
        Vector256.Store(c20, c + 2 * ldc); Vector256.Store(c21, c + 2 * ldc + 8);
        Vector256.Store(c30, c + 3 * ldc); Vector256.Store(c31, c + 3 * ldc + 8);
        Vector256.Store(c40, c + 4 * ldc); Vector256.Store(c41, c + 4 * ldc + 8);
        Vector256.Store(c50, c + 5 * ldc); Vector256.Store(c51, c + 5 * ldc + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Kernel1x16(int kc, float* a, float* bp, float* c, bool load)
    {
        Vector256<float> c0 = load ? Vector256.Load(c) : Vector256<float>.Zero, c1 = load ? Vector256.Load(c + 8) : Vector256<float>.Zero;
        for (int kk = 0; kk < kc; kk++, bp += NR)
        {
            var v = Vector256.Create(a[kk]);
            c0 = Vector256.FusedMultiplyAdd(v, Vector256.Load(bp), c0);
            c1 = Vector256.FusedMultiplyAdd(v, Vector256.Load(bp + 8), c1);
        }
        Vector256.Store(c0, c);
        Vector256.Store(c1, c + 8);
    }
}
