namespace TrtNative.Tests.Support;

/// <summary>
/// Top-1 agreement of classifier outputs laid out as rows of logits (shared by the CPU tests and, linked, the GPU
/// tests).
/// </summary>
internal static class Top1
{
    public static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>How many of the <paramref name="rows"/> rows have the same top-1 in both.</summary>
    public static int Agree(float[] got, float[] want, int rows)
    {
        int classes = want.Length / rows, agree = 0;
        for (int r = 0; r < rows; r++)
            if (ArgMax(got.AsSpan(r * classes, classes)) == ArgMax(want.AsSpan(r * classes, classes))) agree++;
        return agree;
    }

    /// <summary>
    /// Top-1 agreement over the rows whose two best <paramref name="want"/> logits are more than
    /// <paramref name="margin"/> apart; closer ones are ties at the precision under test and may go either way.
    /// Returns the agreeing rows and the rows counted.
    /// </summary>
    public static (int Agree, int Counted) AgreeWhereDecisive(float[] got, float[] want, int rows, double margin)
    {
        int classes = want.Length / rows, agree = 0, counted = 0;
        for (int r = 0; r < rows; r++)
        {
            var w = want.AsSpan(r * classes, classes);
            int best = ArgMax(w);
            float second = float.NegativeInfinity;
            for (int i = 0; i < classes; i++) if (i != best) second = Math.Max(second, w[i]);
            if (w[best] - second <= margin) continue;
            counted++;
            if (ArgMax(got.AsSpan(r * classes, classes)) == best) agree++;
        }
        return (agree, counted);
    }

    /// <summary>
    /// The margin under which a row's top-1 is a tie at an output error of <paramref name="relL2"/>: 4 x the error's
    /// typical size per logit (rel L2 x the logits' RMS).
    /// </summary>
    public static double TieMargin(float[] want, double relL2) => 4 * relL2 * Math.Sqrt(want.Average(x => (double)x * x));
}
