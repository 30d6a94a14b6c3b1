using TrtNative.Server.Imaging;
using Xunit;

namespace TrtNative.Server.Tests;

/// <summary>The optimised resampler gives the same bytes as the plain loops it replaced.</summary>
public class ResamplerTests
{
    // The previous implementation (bounds-checked loops over every source row), kept as the reference.
    private static byte[] Plain(byte[] src, int srcW, int srcH, int ch, int dstW, int dstH, Interp mode)
    {
        if (srcW == dstW && srcH == dstH) return src;
        var (xi, xw, xt) = Resampler.Coeffs(srcW, dstW, mode);
        var (yi, yw, yt) = Resampler.Coeffs(srcH, dstH, mode);
        var tmp = new float[(long)srcH * dstW * ch];
        for (int y = 0; y < srcH; y++)
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
        }
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

    [Theory]
    [InlineData(500, 375, 3, 224, 224)]
    [InlineData(97, 61, 3, 256, 256)]
    [InlineData(640, 480, 1, 32, 24)]
    [InlineData(1200, 900, 3, 224, 224)] // big enough for the parallel horizontal pass
    [InlineData(7, 5, 3, 7, 13)]
    public void SameBytesAsThePlainLoops(int sw, int sh, int ch, int dw, int dh)
    {
        var rng = new Random(sw * 31 + sh);
        var src = new byte[sw * sh * ch];
        rng.NextBytes(src);
        foreach (var mode in Enum.GetValues<Interp>())
        {
            var want = Plain(src, sw, sh, ch, dw, dh, mode);
            var got = Resampler.Resize(src, sw, sh, ch, dw, dh, mode);
            Assert.True(want.AsSpan().SequenceEqual(got), $"{mode} {sw}x{sh}x{ch} -> {dw}x{dh} differs");
        }
    }
}

/// <summary>The partial selection of output.best gives the full sort's classes in the same order.</summary>
public class RankingTests
{
    [Theory]
    [InlineData(1, 0.0)]
    [InlineData(3, 0.0)]
    [InlineData(5, 0.5)]
    [InlineData(63, 0.2)]
    [InlineData(64, 0.0)]
    [InlineData(-1, 0.3)]
    [InlineData(5, 2.0)] // nothing passes the threshold
    public void SameAsFullSort(int best, double threshold)
    {
        var rng = new Random(best * 7 + (int)(threshold * 10));
        for (int trial = 0; trial < 50; trial++)
        {
            // Few distinct values so ties are common; a NaN and negative zero too.
            var s = Enumerable.Range(0, 1000).Select(_ => rng.Next(12) / 11f).ToArray();
            s[rng.Next(1000)] = float.NaN;
            s[rng.Next(1000)] = -0f;
            var want = Enumerable.Range(0, s.Length).OrderByDescending(i => s[i]).ThenBy(i => i).Where(i => s[i] >= threshold).ToList();
            if (best > 0 && want.Count > best) want = want.Take(best).ToList();
            Assert.Equal(want, TrtNative.Server.Services.ModelService.Ranked(s, best, threshold));
        }
    }
}
