using TrtNative.Runtime;

namespace TrtNative.Tests.Support;

/// <summary>
/// Top-1 agreement of classifier outputs laid out as rows of logits (shared by the CPU tests and, linked, the GPU
/// tests), on the engine's own arg-max and agreement count (<see cref="OutputComparison"/>).
/// </summary>
internal static class Top1
{
    /// <summary>How many of the <paramref name="rows"/> rows have the same top-1 in both.</summary>
    public static int Agree(float[] got, float[] want, int rows) =>
        OutputComparison.Of("top-1", got, want, [rows, want.Length / rows]).Top1Agree;

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
            int best = OutputComparison.ArgMax(w);
            float second = float.NegativeInfinity;
            for (int i = 0; i < classes; i++) if (i != best) second = Math.Max(second, w[i]);
            if (w[best] - second <= margin) continue;
            counted++;
            if (OutputComparison.ArgMax(got.AsSpan(r * classes, classes)) == best) agree++;
        }
        return (agree, counted);
    }

    /// <summary>
    /// The margin under which a row's top-1 is a tie at an output error of <paramref name="relL2"/>: 4 x the error's
    /// typical size per logit (rel L2 x the logits' RMS).
    /// </summary>
    public static double TieMargin(float[] want, double relL2) => 4 * relL2 * Math.Sqrt(want.Average(x => (double)x * x));
}
