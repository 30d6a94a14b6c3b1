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
    public void AgreementWhereDecisiveLeavesOutNearTies()
    {
        // Three rows of three logits: a clear win, a near-tie (margin 0.01) that flipped, a clear win that flipped.
        float[] want = [5f, 1f, 0f, 2f, 1.99f, 0f, 0f, 3f, 1f];
        float[] got = [4f, 1f, 0f, 1.98f, 2f, 0f, 0f, 1f, 3f];
        Assert.Equal((1, 2), OutputComparison.AgreeWhereDecisive(got, want, 3, 0.01)); // the tie is left out: 0.01 is not > 0.01
        Assert.Equal((1, 3), OutputComparison.AgreeWhereDecisive(got, want, 3, 0.005));
        Assert.Equal((0, 0), OutputComparison.AgreeWhereDecisive(got, want, 3, 10));
        Assert.Equal(4 * 0.01 * 2, OutputComparison.TieMargin([2f, -2f], 0.01), 12);  // 4 x rel L2 x RMS
    }

    // 64 rows of 10 logits: row r prefers class r % 10 by 0.05, except the first `ties` rows, whose two best classes are
    // 1e-4 apart. The actual output is the reference plus `noise` (an offset that moves no arg-max, but sets the rel L2
    // and with it the tie margin, 4 x noise), with the two best swapped in the tie rows (`flipTies`) and in the first
    // `flipDecisive` rows after them. A swap of 0.05 keeps the rel L2 near 1e-3, within every reduced budget, so these
    // tests see the top-1 rule alone.
    private static (float[] Actual, float[] Reference) Logits(int ties, bool flipTies, int flipDecisive, float noise)
    {
        const int rows = 64, classes = 10;
        var reference = new float[rows * classes];
        var rng = new Random(7);
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < classes; c++) reference[r * classes + c] = (float)(rng.NextDouble() * 2 - 1);
            int best = r % classes, second = (best + 1) % classes;
            reference[r * classes + best] = 4f;
            reference[r * classes + second] = r < ties ? 4f - 1e-4f : 3.95f;
        }
        var actual = reference.Select(x => x + noise).ToArray();
        for (int r = 0; r < rows; r++)
        {
            bool flip = r < ties ? flipTies : r - ties < flipDecisive;
            if (!flip) continue;
            int best = r * classes + r % classes, second = r * classes + (r % classes + 1) % classes;
            (actual[best], actual[second]) = (actual[second], actual[best]);
        }
        return (actual, reference);
    }

    [Fact]
    public void NearTiesThatFlipAreNoReasonToFailTheBudget()
    {
        // Three near-ties flipped, as bf16's 8 significant bits may do on random inputs: 61 of 64 overall, every
        // decisive row agrees, and the error is far within the budget.
        var (actual, reference) = Logits(ties: 3, flipTies: true, flipDecisive: 0, noise: 1e-3f);
        var c = OutputComparison.Of("logits", actual, reference, [64, 10]);
        Assert.Equal((61, 64, 61, 61), (c.Top1Agree, c.Rows, c.DecisiveTop1Agree, c.DecisiveRows));
        Assert.True(c.WithinBudget(Precision.Bf16));
        Assert.True(c.WithinBudget(Precision.Fp16));
        Assert.Contains("top-1 61/64 (61/61 where the reference is decisive)", c.ToString());
    }

    [Fact]
    public void TwoDecisiveRowsThatFlipFailTheBudget()
    {
        var (actual, reference) = Logits(ties: 0, flipTies: false, flipDecisive: 2, noise: 1e-3f);
        var c = OutputComparison.Of("logits", actual, reference, [64, 10]);
        Assert.Equal((62, 64, 62, 64), (c.Top1Agree, c.Rows, c.DecisiveTop1Agree, c.DecisiveRows));
        Assert.True(c.RelativeL2 < 1e-2, $"rel L2 {c.RelativeL2}: the top-1 rule, not the error, must be what fails");
        Assert.False(c.WithinBudget(Precision.Bf16));
        Assert.Equal("62/64", c.Top1Summary);
    }

    [Fact]
    public void OneDecisiveRowOfSixtyFourMayFlipAsBefore()
    {
        var (actual, reference) = Logits(ties: 0, flipTies: false, flipDecisive: 1, noise: 1e-3f);
        var c = OutputComparison.Of("logits", actual, reference, [64, 10]);
        Assert.Equal((63, 64), (c.DecisiveTop1Agree, c.DecisiveRows));
        Assert.True(c.WithinBudget(Precision.Fp16));
    }

    [Fact]
    public void WithEveryRowATieTheRelativeErrorAloneDecides()
    {
        var (actual, reference) = Logits(ties: 64, flipTies: true, flipDecisive: 0, noise: 1e-3f);
        var c = OutputComparison.Of("logits", actual, reference, [64, 10]);
        Assert.Equal((0, 0), (c.DecisiveTop1Agree, c.DecisiveRows));
        Assert.True(c.WithinBudget(Precision.Bf16));
        var (far, _) = Logits(ties: 64, flipTies: true, flipDecisive: 0, noise: 0.1f);
        Assert.False(OutputComparison.Of("logits", far, reference, [64, 10]).WithinBudget(Precision.Bf16));  // rel L2 over 2e-2
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
