using System.Runtime.InteropServices;
using TrtNative.Compiler;
using TrtNative.Interop;
using TrtNative.Ir;

namespace TrtNative.Tests.Compiler;

/// <summary>
/// Runs a lowered <see cref="LayerProgram"/> on the CPU with the native shim's layer semantics (physical layouts,
/// strided copies, NHWC convolutions). It checks the lowering — layouts, permutations, parameters — without a GPU:
/// a program that computes the graph here computes it on the GPU as far as the kernels are right, and those are
/// checked by native/tests/selftest.cpp on the GPU.
/// </summary>
internal sealed unsafe class ProgramInterpreter
{
    private readonly LayerProgram _p;
    private readonly Dictionary<int, float[]> _mem = new();
    private readonly Dictionary<int, long[]> _shape = new();

    public ProgramInterpreter(LayerProgram p) => _p = p;

    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs)
    {
        var bindings = new Dictionary<string, long>();
        foreach (var b in _p.Inputs)
        {
            var t = inputs[b.Name];
            for (int d = 0; d < b.Shape.Length; d++)
                if (!b.Shape[d].IsKnown) bindings[b.Shape[d].Symbol!] = t.Shape[d] / b.Shape[d].Factor;
        }
        foreach (var t in _p.Tensors) _shape[t.Id] = t.Shape.Resolve(bindings);
        foreach (var t in _p.Tensors)
            if (t.AliasOf < 0 && t.Data is not null) _mem[t.Id] = Decode(t);
        foreach (var b in _p.Inputs) _mem[b.TensorId] = (float[])inputs[b.Name].Floats!.Clone();
        foreach (var l in _p.Layers) Execute(l);
        return _p.Outputs.ToDictionary(o => o.Name, o => Tensor.FromFloats(Get(o.TensorId), _shape[o.TensorId]));
    }

    private static float[] Decode(ProgramTensor t) => t.DType switch
    {
        NativeDType.Float32 => MemoryMarshal.Cast<byte, float>(t.Data).ToArray(),
        NativeDType.Float16 => MemoryMarshal.Cast<byte, Half>(t.Data).ToArray().Select(h => (float)h).ToArray(),
        NativeDType.BFloat16 => MemoryMarshal.Cast<byte, ushort>(t.Data).ToArray().Select(BFloat16.ToFloat).ToArray(),
        NativeDType.Int32 => MemoryMarshal.Cast<byte, int>(t.Data).ToArray().Select(i => (float)i).ToArray(),
        _ => throw new NotSupportedException(t.DType.ToString()),
    };

    private float[] Get(int id)
    {
        int r = _p.Root(id);
        return _mem.TryGetValue(r, out var v) ? v : throw new InvalidOperationException($"tensor %{id} ({_p.Tensors[id].Name}) read before written");
    }

    private void Set(int id, float[] v)
    {
        var t = _p.Tensors[id];
        RoundTo(t.DType, v);
        if (v.Length != _shape[id].ElementCount()) throw new InvalidOperationException($"layer wrote {v.Length} elements into %{id} of shape [{string.Join(",", _shape[id])}]");
        _mem[_p.Root(id)] = v;
    }

    /// <summary>Rounds <paramref name="v"/> in place to what a tensor of type <paramref name="dt"/> holds.</summary>
    private static void RoundTo(NativeDType dt, float[] v)
    {
        if (dt == NativeDType.Float16) for (int i = 0; i < v.Length; i++) v[i] = (float)(Half)v[i];
        if (dt == NativeDType.BFloat16) for (int i = 0; i < v.Length; i++) v[i] = BFloat16.Round(v[i]);
    }

    private static T P<T>(ProgramLayer l) where T : unmanaged => MemoryMarshal.Read<T>(l.Params);

    private static float Act(int kind, float x, float a, float b) => kind switch
    {
        0 => x, 1 => MathF.Max(x, 0), 2 => MathF.Min(MathF.Max(x, a), b), 3 => 1f / (1f + MathF.Exp(-x)), 4 => x / (1f + MathF.Exp(-x)),
        5 => x * MathF.Max(0, MathF.Min(1, x / 6f + 0.5f)), 6 => MathF.Max(0, MathF.Min(1, a * x + b)), 7 => x >= 0 ? x : a * x,
        8 => MathF.Tanh(x), 9 => 0.5f * x * (1f + Erf(x / MathF.Sqrt(2))),
        10 => 0.5f * x * (1f + MathF.Tanh(0.7978845608f * (x + 0.044715f * x * x * x))), 20 => MathF.Exp(x), 21 => MathF.Log(x), 22 => MathF.Sqrt(x),
        23 => -x, 24 => MathF.Abs(x), 25 => Erf(x), 26 => 1f / x, 27 => MathF.Floor(x), 28 => MathF.Ceiling(x),
        29 => MathF.Log(1 + MathF.Exp(x)), 30 => x >= 0 ? x : a * (MathF.Exp(x) - 1), 31 => MathF.Sin(x), 32 => MathF.Cos(x),
        33 => MathF.Round(x, MidpointRounding.ToEven), 34 => MathF.Sign(x), 35 => x > 0 ? b * x : b * a * (MathF.Exp(x) - 1),
        36 => MathF.Pow(x, a),
        _ => throw new NotSupportedException($"unary op {kind}"),
    };

    private static float Erf(float x)
    {
        // Abramowitz-Stegun 7.1.26 is too coarse; use a series/continued fraction through double.
        double t = 1.0 / (1.0 + 0.5 * Math.Abs(x));
        double y = 1 - t * Math.Exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                   t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return (float)(x >= 0 ? y : -y);
    }

    private static long[] Strides(long[] s)
    {
        var r = new long[s.Length];
        long a = 1;
        for (int i = s.Length - 1; i >= 0; i--) { r[i] = a; a *= s[i]; }
        return r;
    }

    /// <summary>
    /// The shim's element-type rules (cudnn.cpp, cublaslt.cpp, layers.cpp): every input of a layer but a copy has the
    /// output's type, except a convolution's bias, a layer norm's scale and bias and a GEMM's row-norm scale and shift
    /// (fp32) and gather indices (int32).
    /// A mixed-precision program that breaks them would be refused on the GPU; here it fails the test.
    /// </summary>
    private void CheckTypes(ProgramLayer l)
    {
        if (l.Kind == LayerKind.Copy) return;
        var dt = _p.Tensors[l.Outputs[0]].DType;
        for (int k = 0; k < l.Inputs.Length; k++)
        {
            if (l.Inputs[k] < 0) continue;
            bool fp32Param = (l.Kind == LayerKind.Conv && k == 2) || (l.Kind == LayerKind.LayerNorm && k >= 1) || (l.Kind == LayerKind.Gemm && k >= 4);
            var want = fp32Param ? NativeDType.Float32 : l.Kind == LayerKind.Gather && k == 1 ? NativeDType.Int32 : dt;
            var t = _p.Tensors[l.Inputs[k]];
            if (t.DType != want)
                throw new InvalidOperationException($"layer '{l.Name}' ({l.Kind}) reads input {k} '{t.Name}' as {t.DType}; the shim needs {want}");
        }
    }

    private void Execute(ProgramLayer l)
    {
        CheckTypes(l);
        switch (l.Kind)
        {
            case LayerKind.Copy: Copy(l); break;
            case LayerKind.Unary:
            {
                var p = P<UnaryParams>(l);
                Set(l.Outputs[0], Get(l.Inputs[0]).Select(x => Act(p.Op, x, p.Alpha, p.Beta)).ToArray());
                break;
            }
            case LayerKind.Binary: Binary(l); break;
            case LayerKind.Conv: Conv(l); break;
            case LayerKind.Gemm: Gemm(l); break;
            case LayerKind.Pool: Pool(l); break;
            case LayerKind.Softmax: Softmax(l); break;
            case LayerKind.LayerNorm: LayerNorm(l); break;
            case LayerKind.Reduce: Reduce(l); break;
            case LayerKind.Concat: Concat(l); break;
            case LayerKind.Gather: Gather(l); break;
            case LayerKind.Pad: Pad(l); break;
            case LayerKind.Attention: Attention(l); break;
            default: throw new NotSupportedException($"interpreter: layer kind {l.Kind}");
        }
    }

    /// <summary>
    /// The attention layer as trtnative.h specifies it: each operand is read through its permutation of the physical
    /// dims (view axis i = dim perm[i], -1 past the rank), Q [..,Sq,D], K [..,Skv,D], V [..,Skv,Dv];
    /// O = softmax(scale·QKᵀ)·V [..,Sq,Dv] is written into the output through o_perm.
    /// </summary>
    private void Attention(ProgramLayer l)
    {
        var p = P<AttentionParams>(l);
        int r = _shape[l.Outputs[0]].Length;
        // fixedAxis >= 0: the tensor has one dim more than the view, held at fixedIndex (a slice of a packed tensor).
        (long[] Shape, long[] Strides, long Offset) View(int id, int* perm, int fixedAxis, int fixedIndex)
        {
            var s = _shape[id];
            bool fixedDim = fixedAxis >= 0;
            if (s.Length != r + (fixedDim ? 1 : 0)) throw new InvalidOperationException($"attention: %{id} has rank {s.Length}, the output {r}{(fixedDim ? " (+1 fixed dim)" : "")}");
            var st = Strides(s);
            var axes = Enumerable.Range(0, 4).Select(i => perm[i]).ToArray();
            var expected = Enumerable.Range(0, s.Length).Where(a => a != fixedAxis);
            if (axes.Skip(r).Any(a => a != -1) || !axes.Take(r).Order().SequenceEqual(expected))
                throw new InvalidOperationException($"attention: [{string.Join(",", axes)}] is not a permutation of {r} dims padded with -1");
            if (fixedDim && (fixedIndex < 0 || fixedIndex >= s[fixedAxis])) throw new InvalidOperationException($"attention: fixed index {fixedIndex} outside dim {fixedAxis} of %{id}");
            return (axes.Take(r).Select(a => s[a]).ToArray(), axes.Take(r).Select(a => st[a]).ToArray(), fixedDim ? fixedIndex * st[fixedAxis] : 0);
        }
        var (qs, qst, q0) = View(l.Inputs[0], p.QPerm, p.FixedAxis[0], p.FixedIndex[0]);
        var (ks, kst, k0) = View(l.Inputs[1], p.KPerm, p.FixedAxis[1], p.FixedIndex[1]);
        var (vs, vst, v0) = View(l.Inputs[2], p.VPerm, p.FixedAxis[2], p.FixedIndex[2]);
        var (os, ost, _) = View(l.Outputs[0], p.OPerm, -1, 0);
        long sq = qs[^2], d = qs[^1], skv = ks[^2], dv = vs[^1];
        if (ks[^1] != d || vs[^2] != skv || !qs[..^2].SequenceEqual(ks[..^2]) || !qs[..^2].SequenceEqual(vs[..^2])
            || !os.SequenceEqual(qs[..^1].Append(dv)))
            throw new InvalidOperationException($"attention: views Q [{string.Join(",", qs)}] K [{string.Join(",", ks)}] V [{string.Join(",", vs)}] O [{string.Join(",", os)}] do not fit");
        float[] q = Get(l.Inputs[0]), k = Get(l.Inputs[1]), v = Get(l.Inputs[2]);
        var y = new float[_shape[l.Outputs[0]].ElementCount()];
        long lead = qs[..^2].ElementCount();
        float scale = p.Scale;
        Parallel.For(0, lead * sq, row =>
        {
            long rest = row / sq, i = row % sq, qo = q0 + i * qst[^2], ko = k0, vo = v0, oo = i * ost[^2];
            for (int a = r - 3; a >= 0; a--)
            {
                long c = rest % qs[a];
                rest /= qs[a];
                qo += c * qst[a]; ko += c * kst[a]; vo += c * vst[a]; oo += c * ost[a];
            }
            var s = new double[skv];
            double m = double.MinValue, sum = 0;
            for (long j = 0; j < skv; j++)
            {
                double acc = 0;
                for (long e = 0; e < d; e++) acc += q[qo + e * qst[^1]] * k[ko + j * kst[^2] + e * kst[^1]];
                s[j] = scale * acc;
                m = Math.Max(m, s[j]);
            }
            for (long j = 0; j < skv; j++) { s[j] = Math.Exp(s[j] - m); sum += s[j]; }
            var o = new double[dv];
            for (long j = 0; j < skv; j++)
                for (long e = 0; e < dv; e++) o[e] += s[j] * v[vo + j * vst[^2] + e * vst[^1]];
            for (long e = 0; e < dv; e++) y[oo + e * ost[^1]] = (float)(o[e] / sum);
        });
        Set(l.Outputs[0], y);
    }

    /// <summary>Constant-mode Pad as the shim's pad_kernel: out[i] = in[i - begin] inside, the value outside.</summary>
    private void Pad(ProgramLayer l)
    {
        var p = P<PadParams>(l);
        if (p.Mode != 0) throw new NotSupportedException($"interpreter: pad mode {p.Mode}");
        var x = Get(l.Inputs[0]);
        long[] xs = _shape[l.Inputs[0]], ys = _shape[l.Outputs[0]];
        long[] xst = Strides(xs), yst = Strides(ys);
        var y = new float[ys.ElementCount()];
        for (long i = 0; i < y.Length; i++)
        {
            long xi = 0;
            bool inside = true;
            for (int k = 0; k < ys.Length && inside; k++)
            {
                long c = i / yst[k] % ys[k] - PadBegin(p, k);
                if (c < 0 || c >= xs[k]) inside = false;
                else xi += c * xst[k];
            }
            y[i] = inside ? x[xi] : p.Value;
        }
        Set(l.Outputs[0], y);
    }

    private static unsafe long PadBegin(PadParams p, int k) => p.Begin[k];

    private void Copy(ProgramLayer l)
    {
        var p = P<CopyParams>(l);
        var x = Get(l.Inputs[0]);
        var ys = _shape[l.Outputs[0]];
        var xs0 = _shape[l.Inputs[0]];
        int r = ys.Length;
        var xs = Enumerable.Repeat(1L, r - xs0.Length).Concat(xs0).ToArray();
        var xst = Strides(xs);
        var y = new float[ys.ElementCount()];
        var idx = new long[r];
        for (long o = 0; o < y.Length; o++)
        {
            long src = 0;
            for (int k = 0; k < r; k++) src += (p.Start[k] + idx[k] * p.Step[k]) * xst[p.Perm[k]];
            y[o] = x[src];
            for (int k = r - 1; k >= 0; k--) { if (++idx[k] < ys[k]) break; idx[k] = 0; }
        }
        Set(l.Outputs[0], y);
    }

    private void Binary(ProgramLayer l)
    {
        var p = P<BinaryParams>(l);
        var a = Get(l.Inputs[0]); var b = Get(l.Inputs[1]);
        var ys = _shape[l.Outputs[0]];
        int r = ys.Length;
        long[] St(long[] s0)
        {
            var s = Enumerable.Repeat(1L, r - s0.Length).Concat(s0).ToArray();
            var st = Strides(s);
            for (int k = 0; k < r; k++) if (s[k] == 1) st[k] = 0; else if (s[k] != ys[k]) throw new InvalidOperationException("binary: bad broadcast");
            return st;
        }
        var sa = St(_shape[l.Inputs[0]]); var sb = St(_shape[l.Inputs[1]]);
        var y = new float[ys.ElementCount()];
        var idx = new long[r];
        for (long o = 0; o < y.Length; o++)
        {
            long ia = 0, ib = 0;
            for (int k = 0; k < r; k++) { ia += idx[k] * sa[k]; ib += idx[k] * sb[k]; }
            float u = a[ia], v = b[ib];
            float z = p.Op switch
            {
                0 => u + v, 1 => u - v, 2 => u * v, 3 => u / v, 4 => MathF.Pow(u, v), 5 => MathF.Max(u, v), 6 => MathF.Min(u, v),
                7 => u >= 0 ? u : u * v, _ => throw new NotSupportedException(),
            };
            y[o] = Act(p.Act.Kind, z, p.Act.Alpha, p.Act.Beta);
            for (int k = r - 1; k >= 0; k--) { if (++idx[k] < ys[k]) break; idx[k] = 0; }
        }
        Set(l.Outputs[0], y);
    }

    private void Conv(ProgramLayer l)
    {
        var p = P<ConvParams>(l);
        var x = Get(l.Inputs[0]); var w = Get(l.Inputs[1]);
        float[]? bias = l.Inputs.Length > 2 && l.Inputs[2] >= 0 ? Get(l.Inputs[2]) : null;
        float[]? res = l.Inputs.Length > 3 && l.Inputs[3] >= 0 ? Get(l.Inputs[3]) : null;
        var xs = _shape[l.Inputs[0]]; var ws = _shape[l.Inputs[1]]; var ys = _shape[l.Outputs[0]];
        long N = xs[0], H = xs[1], W = xs[2], C = xs[3], K = ws[0], R = ws[1], S = ws[2], Cg = ws[3], P_ = ys[1], Q = ys[2];
        long Kg = K / p.Groups;
        var y = new float[ys.ElementCount()];
        Parallel.For(0, N * P_, np =>
        {
            long n = np / P_, pp = np % P_;
            for (long q = 0; q < Q; q++)
                for (long k = 0; k < K; k++)
                {
                    double acc = bias?[k] ?? 0;
                    long g = k / Kg;
                    for (long r = 0; r < R; r++)
                    {
                        long h = pp * p.StrideH - p.PadH + r * p.DilationH;
                        if (h < 0 || h >= H) continue;
                        for (long s = 0; s < S; s++)
                        {
                            long ww = q * p.StrideW - p.PadW + s * p.DilationW;
                            if (ww < 0 || ww >= W) continue;
                            long xb = ((n * H + h) * W + ww) * C + g * Cg, wb = ((k * R + r) * S + s) * Cg;
                            for (long c = 0; c < Cg; c++) acc += x[xb + c] * w[wb + c];
                        }
                    }
                    long o = ((n * P_ + pp) * Q + q) * K + k;
                    if (res is not null) acc += res[o];
                    y[o] = Act(p.Act.Kind, (float)acc, p.Act.Alpha, p.Act.Beta);
                }
        });
        Set(l.Outputs[0], y);
    }

    private void Gemm(ProgramLayer l)
    {
        var p = P<GemmParams>(l);
        var a = Get(l.Inputs[0]); var b = Get(l.Inputs[1]);
        float[]? bias = p.HasBias != 0 ? Get(l.Inputs[2]) : null;
        float[]? residual = l.Inputs.Length > 3 && l.Inputs[3] >= 0 ? Get(l.Inputs[3]) : null;
        var aS = _shape[l.Inputs[0]]; var bS = _shape[l.Inputs[1]];
        long M = p.TransA != 0 ? aS[^1] : aS[^2], K = p.TransA != 0 ? aS[^2] : aS[^1];
        long N = p.TransB != 0 ? bS[^2] : bS[^1];
        if (p.NormA != 0)
        {
            if (p.TransA != 0) throw new InvalidOperationException($"gemm '{l.Name}': norm_a needs trans_a 0");
            float[]? shift = l.Inputs.Length > 5 && l.Inputs[5] >= 0 ? Get(l.Inputs[5]) : null;
            var scale = Get(l.Inputs[4]);
            if (scale.Length != K || (shift is not null && shift.Length != K))
                throw new InvalidOperationException($"gemm '{l.Name}': norm_a's scale and shift must have K = {K} elements");
            // Rounded to A's type, in which the product reads it (as it would read a LayerNorm layer's output).
            a = NormalizeRows(a, K, scale, shift, p.NormEpsilon);
            RoundTo(_p.Tensors[l.Inputs[0]].DType, a);
        }
        long batchA = aS.ElementCount() / (M * K), batchB = bS.ElementCount() / (K * N);
        long batch = Math.Max(batchA, batchB);
        var y = new float[batch * M * N];
        Parallel.For(0, batch * M, bm =>
        {
            long bb = bm / M, m = bm % M;
            long ao = (batchA == 1 ? 0 : bb) * M * K, bo = (batchB == 1 ? 0 : bb) * K * N;
            for (long n = 0; n < N; n++)
            {
                double acc = 0;
                for (long k = 0; k < K; k++)
                    acc += a[ao + (p.TransA != 0 ? k * M + m : m * K + k)] * b[bo + (p.TransB != 0 ? n * K + k : k * N + n)];
                long o = (bb * M + m) * N + n;
                float v = p.Alpha * (float)acc + (bias?[n] ?? 0) + (residual?[o] ?? 0);
                y[o] = Act(p.Act.Kind, v, p.Act.Alpha, p.Act.Beta);
            }
        });
        Set(l.Outputs[0], y);
    }

    /// <summary>
    /// Each row of <paramref name="x"/> (<paramref name="cols"/> values) layer-normalised: (x - mean) / sqrt(var +
    /// epsilon) * scale + shift, in double; the LayerNorm layer's and a GEMM's norm_a.
    /// </summary>
    private static float[] NormalizeRows(float[] x, long cols, float[] scale, float[]? shift, float epsilon)
    {
        var y = new float[x.Length];
        for (long r = 0; r < x.Length / cols; r++)
        {
            double m = 0, v = 0;
            for (long c = 0; c < cols; c++) m += x[r * cols + c];
            m /= cols;
            for (long c = 0; c < cols; c++) v += (x[r * cols + c] - m) * (x[r * cols + c] - m);
            v /= cols;
            for (long c = 0; c < cols; c++) y[r * cols + c] = (float)((x[r * cols + c] - m) / Math.Sqrt(v + epsilon) * scale[c] + (shift?[c] ?? 0));
        }
        return y;
    }

    private void Pool(ProgramLayer l)
    {
        var p = P<PoolParams>(l);
        var x = Get(l.Inputs[0]);
        var xs = _shape[l.Inputs[0]]; var ys = _shape[l.Outputs[0]];
        long N = xs[0], H = xs[1], W = xs[2], C = xs[3], P_ = ys[1], Q = ys[2];
        var y = new float[ys.ElementCount()];
        for (long n = 0; n < N; n++) for (long pp = 0; pp < P_; pp++) for (long q = 0; q < Q; q++) for (long c = 0; c < C; c++)
        {
            float acc = p.Mode == 0 ? float.MinValue : 0; long cnt = 0;
            for (int kh = 0; kh < p.KernelH; kh++) for (int kw = 0; kw < p.KernelW; kw++)
            {
                long h = pp * p.StrideH - p.PadTop + kh * p.DilationH, w = q * p.StrideW - p.PadLeft + kw * p.DilationW;
                bool inside = h >= 0 && h < H && w >= 0 && w < W;
                if (p.Mode == 0) { if (inside) acc = MathF.Max(acc, x[((n * H + h) * W + w) * C + c]); }
                else if (inside) { acc += x[((n * H + h) * W + w) * C + c]; cnt++; }
                else if (p.CountIncludePad != 0 && h < H + p.PadBottom && w < W + p.PadRight) cnt++;
            }
            y[((n * P_ + pp) * Q + q) * C + c] = p.Mode == 0 ? acc : acc / cnt;
        }
        Set(l.Outputs[0], y);
    }

    private void Softmax(ProgramLayer l)
    {
        var p = P<SoftmaxParams>(l);
        var x = Get(l.Inputs[0]); var s = _shape[l.Inputs[0]];
        long outer = s[..p.Axis].ElementCount(), len = s[p.Axis], inner = s[(p.Axis + 1)..].ElementCount();
        var y = new float[x.Length];
        for (long o = 0; o < outer; o++) for (long i = 0; i < inner; i++)
        {
            double m = double.MinValue, sum = 0;
            for (long k = 0; k < len; k++) m = Math.Max(m, x[(o * len + k) * inner + i]);
            for (long k = 0; k < len; k++) sum += Math.Exp(x[(o * len + k) * inner + i] - m);
            for (long k = 0; k < len; k++)
            {
                double v = x[(o * len + k) * inner + i] - m;
                y[(o * len + k) * inner + i] = (float)(p.Log != 0 ? v - Math.Log(sum) : Math.Exp(v) / sum);
            }
        }
        Set(l.Outputs[0], y);
    }

    private void LayerNorm(ProgramLayer l)
    {
        var p = P<LayerNormParams>(l);
        var x = Get(l.Inputs[0]); var sc = Get(l.Inputs[1]);
        float[]? bi = p.HasBias != 0 ? Get(l.Inputs[2]) : null;
        Set(l.Outputs[0], NormalizeRows(x, _shape[l.Inputs[0]][p.Axis..].ElementCount(), sc, bi, p.Epsilon));
    }

    private void Reduce(ProgramLayer l)
    {
        var p = P<ReduceParams>(l);
        var x = Get(l.Inputs[0]); var s = _shape[l.Inputs[0]];
        var ys = s.Select((d, k) => (p.AxesMask & (1 << k)) != 0 ? 1 : d).ToArray();
        var yst = Strides(ys);
        var acc = new double[ys.ElementCount()];
        var cnt = new long[acc.Length];
        if (p.Op is 2) Array.Fill(acc, double.MinValue);
        if (p.Op is 3) Array.Fill(acc, double.MaxValue);
        var idx = new long[s.Length];
        for (long i = 0; i < x.Length; i++)
        {
            long o = 0;
            for (int k = 0; k < s.Length; k++) if ((p.AxesMask & (1 << k)) == 0) o += idx[k] * yst[k];
            double v = x[i];
            acc[o] = p.Op switch { 2 => Math.Max(acc[o], v), 3 => Math.Min(acc[o], v), 4 or 5 => acc[o] + v * v, _ => acc[o] + v };
            cnt[o]++;
            for (int k = s.Length - 1; k >= 0; k--) { if (++idx[k] < s[k]) break; idx[k] = 0; }
        }
        Set(l.Outputs[0], acc.Select((v, i) => (float)(p.Op == 0 ? v / cnt[i] : p.Op == 5 ? Math.Sqrt(v) : v)).ToArray());
    }

    private void Concat(ProgramLayer l)
    {
        var p = P<ConcatParams>(l);
        var ys = _shape[l.Outputs[0]];
        long outer = ys[..p.Axis].ElementCount(), inner = ys[(p.Axis + 1)..].ElementCount();
        var y = new float[ys.ElementCount()];
        long off = 0;
        foreach (var id in l.Inputs)
        {
            var x = Get(id); long len = _shape[id][p.Axis];
            for (long o = 0; o < outer; o++)
                Array.Copy(x, o * len * inner, y, (o * ys[p.Axis] + off) * inner, len * inner);
            off += len;
        }
        Set(l.Outputs[0], y);
    }

    private void Gather(ProgramLayer l)
    {
        var p = P<GatherParams>(l);
        var x = Get(l.Inputs[0]); var idx = Get(l.Inputs[1]); var s = _shape[l.Inputs[0]];
        long outer = s[..p.Axis].ElementCount(), len = s[p.Axis], inner = s[(p.Axis + 1)..].ElementCount();
        var y = new float[outer * idx.Length * inner];
        for (long o = 0; o < outer; o++) for (long j = 0; j < idx.Length; j++)
        {
            long k = (long)idx[j]; if (k < 0) k += len;
            Array.Copy(x, (o * len + k) * inner, y, (o * idx.Length + j) * inner, inner);
        }
        Set(l.Outputs[0], y);
    }
}
