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
    public static byte[] Resize(byte[] src, int srcW, int srcH, int ch, int dstW, int dstH, Interp mode)
    {
        if (srcW == dstW && srcH == dstH) return src;
        var (xi, xw, xt) = Coeffs(srcW, dstW, mode);
        var (yi, yw, yt) = Coeffs(srcH, dstH, mode);
        // Horizontal pass: srcH rows × dstW × ch floats.
        var tmp = new float[(long)srcH * dstW * ch];
        Parallel.For(0, srcH, new ParallelOptions { MaxDegreeOfParallelism = srcH * dstW > 1 << 18 ? Environment.ProcessorCount : 1 }, y =>
        {
            int srow = y * srcW * ch, trow = y * dstW * ch;
            for (int x = 0; x < dstW; x++)
            {
                int b = x * xt;
                for (int c = 0; c < ch; c++)
                {
                    float s = 0;
                    for (int k = 0; k < xt; k++) s += xw[b + k] * src[srow + xi[b + k] * ch + c];
                    tmp[trow + x * ch + c] = s;
                }
            }
        });
        var dst = new byte[(long)dstW * dstH * ch];
        int rowLen = dstW * ch;
        for (int y = 0; y < dstH; y++)
        {
            int b = y * yt, drow = y * rowLen;
            for (int i = 0; i < rowLen; i++)
            {
                float s = 0;
                for (int k = 0; k < yt; k++) s += yw[b + k] * tmp[yi[b + k] * rowLen + i];
                int v = (int)MathF.Round(s, MidpointRounding.ToEven);
                dst[drow + i] = (byte)Math.Clamp(v, 0, 255);
            }
        }
        return dst;
    }

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
