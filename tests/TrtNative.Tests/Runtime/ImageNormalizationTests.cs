using TrtNative.Runtime;
using Xunit;

namespace TrtNative.Tests.Runtime;

public class ImageNormalizationTests
{
    [Fact]
    public void PlanarValuesFollowTheDocumentedExpression()
    {
        // 2x3 image, 3 interleaved channels; output BGR with scale, mean and std.
        var px = new byte[2 * 3 * 3];
        new Random(5).NextBytes(px);
        var n = new ImageNormalization(3, 0.0039f, mean: [0.485f, 0.456f, 0.406f], std: [0.229f, 0.224f, 0.225f], sourceChannels: [2, 1, 0]);
        var y = new float[3 * 6];
        n.ToPlanar(px, 2, 3, 3, y);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 6; i++)
            {
                float prod = px[i * 3 + (2 - c)] * 0.0039f;
                float diff = prod - n.Mean[c];
                Assert.Equal(diff / n.Std[c], y[c * 6 + i]);
            }
    }

    [Fact]
    public void DefaultsAreIdentityAndGreyReadsChannelZero()
    {
        var y = new float[4];
        new ImageNormalization(1).ToPlanar(new byte[] { 0, 7, 200, 255 }, 2, 2, 1, y);
        Assert.Equal([0f, 7f, 200f, 255f], y);
    }

    [Fact]
    public void BadParametersAreNamed()
    {
        Assert.Contains("1..4 channels", Assert.Throws<TrtNativeException>(() => new ImageNormalization(5)).Message);
        Assert.Contains("mean has 2 values for 3", Assert.Throws<TrtNativeException>(() => new ImageNormalization(3, mean: [1f, 2f])).Message);
        Assert.Contains("std must be finite and non-zero", Assert.Throws<TrtNativeException>(() => new ImageNormalization(1, std: [0f])).Message);
        Assert.Contains("mean must be finite", Assert.Throws<TrtNativeException>(() => new ImageNormalization(1, mean: [float.NaN])).Message);
        Assert.Contains("scale must be finite", Assert.Throws<TrtNativeException>(() => new ImageNormalization(1, scale: float.PositiveInfinity)).Message);
        Assert.Contains("source channels", Assert.Throws<TrtNativeException>(() => new ImageNormalization(1, sourceChannels: [4])).Message);
        // Finite parameters whose fp32 steps overflow: 255 * 1e37 before the division, 1 / 1e-45 as a divisor.
        Assert.Contains("out of fp32's range", Assert.Throws<TrtNativeException>(() => new ImageNormalization(1, scale: 1e37f, std: [10f])).Message);
        Assert.Contains("out of fp32's range", Assert.Throws<TrtNativeException>(() => new ImageNormalization(1, mean: [1f], std: [1e-45f])).Message);
        _ = new ImageNormalization(3, scale: 1f / 255, mean: [0.485f, 0.456f, 0.406f], std: [0.229f, 0.224f, 0.225f]); // ImageNet's
        var rgb = new ImageNormalization(3, sourceChannels: [2, 1, 0]);
        var e = Assert.Throws<TrtNativeException>(() => rgb.ToPlanar(new byte[4], 2, 2, 1, new float[12]));
        Assert.Contains("the images have 1 channel", e.Message);
        e = Assert.Throws<TrtNativeException>(() => new ImageNormalization(1).ToPlanar(new byte[3], 2, 2, 1, new float[4]));
        Assert.Contains("too few", e.Message);
    }
}
