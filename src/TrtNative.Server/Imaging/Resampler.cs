using System.Buffers;

namespace TrtNative.Server.Imaging;

/// <summary>
/// Separable resize of an 8-bit interleaved image with OpenCV's sample positions (half-pixel centres,
/// edge pixels replicated; nearest uses floor(dst × scale) as cv::resize does). The result is rounded and
/// saturated to 8 bits, as DeepDetect's cv::resize output is, before the tensor conversion.
/// Area: exact box averages when shrinking; when enlarging it behaves as linear.
/// </summary>
public static class Resampler
{
    /// <summary>Resizes <paramref name="src"/> (srcW × srcH × ch, row-major, interleaved) to dstW × dstH.</summary>
    /// <remarks>
    /// Hot path of every predict: pointer loops without bounds checks (2 and 4 taps unrolled); the horizontal pass skips source rows no
    /// vertical tap reads (most rows when shrinking a photo). Sums run in the same order as the plain loops
    /// (s = 0, then += w[k] × v[k] for k = 0..taps-1), so results are bit-identical.
    /// </remarks>
    public static byte[] Resize(byte[] src, int srcW, int srcH, int ch, int dstW, int dstH, Interp mode) =>
        srcW == dstW && srcH == dstH ? src : Resize(src, srcW, srcH, ch, dstW, dstH, mode, new byte[(long)dstW * dstH * ch]);

    /// <summary>As <see cref="Resize(byte[], int, int, int, int, int, Interp)"/>, into <paramref name="dst"/> (at least dstW × dstH × ch bytes; always resamples).</summary>
    internal static unsafe byte[] Resize(byte[] src, int srcW, int srcH, int ch, int dstW, int dstH, Interp mode, byte[] dst)
    {
        var (xi, xw, xt) = Coeffs(srcW, dstW, mode);
        var (yi, yw, yt) = Coeffs(srcH, dstH, mode);
        // Source byte offsets of the horizontal taps.
        for (int i = 0; i < xi.Length; i++) xi[i] *= ch;
        var needed = new bool[srcH];
        foreach (int r in yi) needed[r] = true;
        // Horizontal pass: srcH rows × dstW × ch floats (only the rows read below are filled).
        // Pooled: the intermediate is srcH × dstW × ch floats (1 MB for a 500×375 photo to 224). Rows not marked
        // needed keep stale data but are never read.
        var tmp = ScratchBuffers.Floats.Rent(checked(srcH * dstW * ch));
        try
        {
            int rowLen = dstW * ch;
            Parallel.For(0, srcH, new ParallelOptions { MaxDegreeOfParallelism = srcH * dstW > 1 << 18 ? Environment.ProcessorCount : 1 }, y =>
            {
                if (!needed[y]) return;
                fixed (byte* ps = src)
                fixed (float* pt = tmp)
                fixed (int* pxi = xi)
                fixed (float* pxw = xw)
                {
                    byte* srow = ps + (long)y * srcW * ch;
                    float* trow = pt + (long)y * rowLen;
                    if (xt == 4)
                    {
                        for (int x = 0; x < dstW; x++)
                        {
                            int b = x * 4;
                            float w0 = pxw[b], w1 = pxw[b + 1], w2 = pxw[b + 2], w3 = pxw[b + 3];
                            byte* s0 = srow + pxi[b], s1 = srow + pxi[b + 1], s2 = srow + pxi[b + 2], s3 = srow + pxi[b + 3];
                            for (int c = 0; c < ch; c++)
                            {
                                float s = w0 * s0[c];
                                s += w1 * s1[c];
                                s += w2 * s2[c];
                                s += w3 * s3[c];
                                trow[x * ch + c] = s;
                            }
                        }
                    }
                    else if (xt == 2)
                    {
                        for (int x = 0; x < dstW; x++)
                        {
                            int b = x * 2;
                            float w0 = pxw[b], w1 = pxw[b + 1];
                            byte* s0 = srow + pxi[b], s1 = srow + pxi[b + 1];
                            for (int c = 0; c < ch; c++)
                            {
                                float s = w0 * s0[c];
                                s += w1 * s1[c];
                                trow[x * ch + c] = s;
                            }
                        }
                    }
                    else
                    {
                        for (int x = 0; x < dstW; x++)
                        {
                            int b = x * xt;
                            for (int c = 0; c < ch; c++)
                            {
                                float s = 0;
                                for (int k = 0; k < xt; k++) s += pxw[b + k] * srow[pxi[b + k] + c];
                                trow[x * ch + c] = s;
                            }
                        }
                    }
                }
            });
            fixed (float* pt = tmp)
            fixed (byte* pd = dst)
            fixed (int* pyi = yi)
            fixed (float* pyw = yw)
            {
                for (int y = 0; y < dstH; y++)
                {
                    int b = y * yt;
                    byte* drow = pd + (long)y * rowLen;
                    if (yt == 4)
                    {
                        float w0 = pyw[b], w1 = pyw[b + 1], w2 = pyw[b + 2], w3 = pyw[b + 3];
                        float* r0 = pt + (long)pyi[b] * rowLen, r1 = pt + (long)pyi[b + 1] * rowLen;
                        float* r2 = pt + (long)pyi[b + 2] * rowLen, r3 = pt + (long)pyi[b + 3] * rowLen;
                        for (int i = 0; i < rowLen; i++)
                        {
                            float s = w0 * r0[i];
                            s += w1 * r1[i];
                            s += w2 * r2[i];
                            s += w3 * r3[i];
                            drow[i] = Saturate(s);
                        }
                    }
                    else if (yt == 2)
                    {
                        float w0 = pyw[b], w1 = pyw[b + 1];
                        float* r0 = pt + (long)pyi[b] * rowLen, r1 = pt + (long)pyi[b + 1] * rowLen;
                        for (int i = 0; i < rowLen; i++)
                        {
                            float s = w0 * r0[i];
                            s += w1 * r1[i];
                            drow[i] = Saturate(s);
                        }
                    }
                    else
                    {
                        for (int i = 0; i < rowLen; i++)
                        {
                            float s = 0;
                            for (int k = 0; k < yt; k++) s += pyw[b + k] * pt[(long)pyi[b + k] * rowLen + i];
                            drow[i] = Saturate(s);
                        }
                    }
                }
            }
            return dst;
        }
        finally
        {
            ScratchBuffers.Floats.Return(tmp);
        }
    }

    private static byte Saturate(float s) => (byte)Math.Clamp((int)MathF.Round(s, MidpointRounding.ToEven), 0, 255);

    /// <summary>Per destination index: taps source indices and weights (flattened, taps per row).</summary>
    internal static (int[] idx, float[] w, int taps) Coeffs(int src, int dst, Interp mode)
    {
        double scale = (double)src / dst;
        if (mode == Interp.Area && scale <= 1.0) mode = Interp.Linear;
        int taps = mode switch
        {
            Interp.Nearest => 1,
            Interp.Linear => 2,
            Interp.Cubic => 4,
            Interp.Lanczos4 => 8,
            _ => (int)Math.Ceiling(scale) + 1,
        };
        var idx = new int[dst * taps];
        var w = new float[dst * taps];
        for (int d = 0; d < dst; d++)
        {
            int b = d * taps;
            switch (mode)
            {
                case Interp.Nearest:
                    idx[b] = Math.Min((int)Math.Floor(d * scale), src - 1);
                    w[b] = 1;
                    break;
                case Interp.Area:
                {
                    double x0 = d * scale, x1 = x0 + scale;
                    int first = (int)Math.Floor(x0);
                    for (int k = 0; k < taps; k++)
                    {
                        int sx = first + k;
                        double overlap = Math.Max(0, Math.Min(x1, sx + 1) - Math.Max(x0, sx));
                        idx[b + k] = Math.Clamp(sx, 0, src - 1);
                        w[b + k] = (float)(overlap / scale);
                    }
                    break;
                }
                default:
                {
                    double fx = (d + 0.5) * scale - 0.5;
                    int sx = (int)Math.Floor(fx);
                    double f = fx - sx;
                    int half = taps / 2;
                    double sum = 0;
                    var tw = new double[taps];
                    for (int k = 0; k < taps; k++)
                    {
                        double t = f - (k - half + 1); // distance from the tap
                        tw[k] = mode switch
                        {
                            Interp.Linear => Math.Max(0, 1 - Math.Abs(t)),
                            Interp.Cubic => Cubic(t),
                            _ => Lanczos4(t),
                        };
                        sum += tw[k];
                    }
                    for (int k = 0; k < taps; k++)
                    {
                        idx[b + k] = Math.Clamp(sx + k - half + 1, 0, src - 1);
                        w[b + k] = (float)(tw[k] / sum);
                    }
                    break;
                }
            }
        }
        return (idx, w, taps);
    }

    // Keys cubic with a = -0.75, OpenCV's INTER_CUBIC kernel.
    private static double Cubic(double t)
    {
        const double a = -0.75;
        t = Math.Abs(t);
        if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
        if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
        return 0;
    }

    private static double Lanczos4(double t)
    {
        if (Math.Abs(t) < 1e-12) return 1;
        if (Math.Abs(t) >= 4) return 0;
        double px = Math.PI * t;
        return 4 * Math.Sin(px) * Math.Sin(px / 4) / (px * px);
    }
}
