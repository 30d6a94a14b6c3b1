using TrtNative.Runtime;
using Xunit;

namespace TrtNative.Tests.Runtime;

public class OutputComparisonTests
{
    [Fact]
    public void IdenticalOutputsHaveNoErrorAndFullAgreement()
    {
        float[] y = [0.1f, 0.7f, 0.2f, 0.9f, 0.05f, 0.05f];
        var c = OutputComparison.Of("probs", y, y, [2, 3]);
        Assert.Equal((0.0, 0.0, 0L, 2, 2), (c.RelativeL2, c.MaxAbsError, c.NonFinite, c.Top1Agree, c.Rows));
    }

    [Fact]
    public void ErrorsAndTop1AreMeasured()
    {
        float[] reference = [3, 4, 1, 0];        // row 0 prefers class 1, row 1 class 0
        float[] actual = [2.6f, 4, 1, 1.5f];     // row 0 still class 1; row 1 now class 1
        var c = OutputComparison.Of("logits", actual, reference, [2, 2]);
        Assert.Equal(Math.Sqrt((0.4 * 0.4 + 1.5 * 1.5) / 26), c.RelativeL2, 6);
        Assert.Equal(1.5, c.MaxAbsError, 6);
        Assert.Equal((1, 2), (c.Top1Agree, c.Rows));
        Assert.Contains("top-1 1/2", c.ToString());
    }

    [Fact]
    public void ArgMaxTakesTheFirstLargestAndNeverANaN()
    {
        Assert.Equal(1, OutputComparison.ArgMax([0f, 2f, 2f, 1f]));
        Assert.Equal(2, OutputComparison.ArgMax([float.NaN, -1f, 3f]));
        Assert.Equal(0, OutputComparison.ArgMax([5f, float.NaN]));
    }

    [Fact]
    public void NonFiniteValuesAreCountedAndMakeTheErrorInfinite()
    {
        float[] reference = [1, 2, 3];
        float[] actual = [1, float.NaN, float.PositiveInfinity];
        var c = OutputComparison.Of("y", actual, reference, [3]);
        Assert.Equal(2, c.NonFinite);
        Assert.True(double.IsPositiveInfinity(c.RelativeL2));
        Assert.Equal(0, c.Rows);                 // rank 1: no rows to compare top-1 over
        Assert.Contains("2 non-finite values", c.ToString());
    }

    [Fact]
    public void MismatchedLengthsAreRefusedNamingTheOutput()
    {
        var e = Assert.Throws<ArgumentException>(() => OutputComparison.Of("probs", new float[6], new float[5], [2, 3]));
        Assert.Contains("probs", e.Message);
    }
}
