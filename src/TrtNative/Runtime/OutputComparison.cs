namespace TrtNative.Runtime;

/// <summary>
/// How far an engine's output is from a reference output (ONNX Runtime, the CPU reference executor) computed on the
/// same inputs: relative L2 error ‖actual − reference‖ / ‖reference‖, the largest absolute difference, whether the
/// actual output holds a NaN or an infinity, and, for [rows, classes] outputs, on how many rows the top-1 class agrees:
/// over all rows, and over the rows where the reference is decisive (its two best classes further apart than the
/// measured error can bridge, <see cref="TieMargin"/>). A row whose reference is a near-tie may flip at any reduced
/// precision without the engine being wrong: bf16 keeps 8 significant bits, and random inputs or weights give such rows.
/// </summary>
/// <param name="Name">The output's name.</param>
/// <param name="Shape">Its shape (all rows of every compared batch together).</param>
/// <param name="RelativeL2">Relative L2 error; +∞ when the actual output is not finite.</param>
/// <param name="MaxAbsError">Largest absolute difference over the finite elements.</param>
/// <param name="NonFinite">Elements of the actual output that are NaN or infinite.</param>
/// <param name="Top1Agree">Rows whose arg-max agrees (rank-2 outputs; 0 otherwise).</param>
/// <param name="Rows">Rows compared for top-1 (rank-2 outputs; 0 otherwise).</param>
/// <param name="DecisiveTop1Agree">Decisive rows whose arg-max agrees.</param>
/// <param name="DecisiveRows">Rows where the reference is decisive (0 when the actual output is not finite).</param>
public sealed record OutputComparison(string Name, long[] Shape, double RelativeL2, double MaxAbsError, long NonFinite, int Top1Agree, int Rows,
    int DecisiveTop1Agree, int DecisiveRows)
{
    /// <summary>Compares <paramref name="actual"/> with <paramref name="reference"/>, both laid out in <paramref name="shape"/>.</summary>
    /// <exception cref="ArgumentException">The two have different lengths or do not fill the shape.</exception>
    public static OutputComparison Of(string name, ReadOnlySpan<float> actual, ReadOnlySpan<float> reference, long[] shape)
    {
        long count = shape.Aggregate(1L, (a, d) => a * d);
        if (actual.Length != reference.Length || actual.Length != count)
            throw new ArgumentException($"output '{name}': {actual.Length} values against {reference.Length} reference values for shape [{string.Join(",", shape)}]");
        double num = 0, den = 0, maxAbs = 0;
        long nonFinite = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            den += (double)reference[i] * reference[i];
            if (!float.IsFinite(actual[i])) { nonFinite++; continue; }
            double d = (double)actual[i] - reference[i];
            num += d * d;
            maxAbs = Math.Max(maxAbs, Math.Abs(d));
        }
        double rel = nonFinite > 0 ? double.PositiveInfinity : Math.Sqrt(num / (den > 0 ? den : 1));
        int agree = 0, rows = 0, decisiveAgree = 0, decisive = 0;
        if (shape.Length == 2 && shape[1] > 0)
        {
            rows = (int)shape[0];
            int classes = (int)shape[1];
            for (int r = 0; r < rows; r++)
                if (ArgMax(actual.Slice(r * classes, classes)) == ArgMax(reference.Slice(r * classes, classes))) agree++;
            if (double.IsFinite(rel)) (decisiveAgree, decisive) = AgreeWhereDecisive(actual, reference, rows, TieMargin(reference, rel));
        }
        return new OutputComparison(name, shape, rel, maxAbs, nonFinite, agree, rows, decisiveAgree, decisive);
    }

    /// <summary>
    /// Top-1 agreement over the <paramref name="rows"/> rows whose two best <paramref name="reference"/> values are more
    /// than <paramref name="margin"/> apart; closer ones are ties at the precision compared and may go either way.
    /// Returns the agreeing rows and the rows counted.
    /// </summary>
    public static (int Agree, int Counted) AgreeWhereDecisive(ReadOnlySpan<float> actual, ReadOnlySpan<float> reference, int rows, double margin)
    {
        int classes = reference.Length / rows, agree = 0, counted = 0;
        for (int r = 0; r < rows; r++)
        {
            var w = reference.Slice(r * classes, classes);
            int best = ArgMax(w);
            float second = float.NegativeInfinity;
            for (int i = 0; i < classes; i++) if (i != best) second = Math.Max(second, w[i]);
            if (w[best] - second <= margin) continue;
            counted++;
            if (ArgMax(actual.Slice(r * classes, classes)) == best) agree++;
        }
        return (agree, counted);
    }

    /// <summary>
    /// The margin under which a row's top-1 is a tie at an output error of <paramref name="relL2"/>: 4 x the error's
    /// typical size per value (rel L2 x the reference's RMS).
    /// </summary>
    public static double TieMargin(ReadOnlySpan<float> reference, double relL2)
    {
        double sum = 0;
        foreach (float x in reference) sum += (double)x * x;
        return 4 * relL2 * Math.Sqrt(sum / Math.Max(reference.Length, 1));
    }

    /// <summary>
    /// Whether this is within the accuracy the engine promises for <paramref name="precision"/> (the GPU tests' budget):
    /// no non-finite value; fp32 rel L2 ≤ 1e-4; fp16 rel L2 ≤ 1e-2, bf16 ≤ 2e-2, and for both the same top-1 class on at
    /// least 63 of 64 of the rows where the reference is decisive (with none, the rel L2 alone decides).
    /// </summary>
    public bool WithinBudget(Precision precision) =>
        NonFinite == 0 && (precision == Precision.Fp32
            ? RelativeL2 <= 1e-4
            : RelativeL2 <= (precision == Precision.Bf16 ? 2e-2 : 1e-2) && (long)DecisiveTop1Agree * 64 >= (long)DecisiveRows * 63);

    /// <summary>"61/64", and "61/64 (50/50 where the reference is decisive)" when some rows are near-ties (finite outputs).</summary>
    public string Top1Summary => DecisiveRows == Rows || NonFinite > 0 ? $"{Top1Agree}/{Rows}" : $"{Top1Agree}/{Rows} ({DecisiveTop1Agree}/{DecisiveRows} where the reference is decisive)";

    /// <summary>The index of <paramref name="row"/>'s largest value, the first of equal ones; a NaN never wins over a number.</summary>
    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
            if (row[i] > row[best] || float.IsNaN(row[best])) best = i;
        return best;
    }

    /// <summary>One line: "logits [64,1000]: rel L2 3.2e-04, max abs 1.1e-03, top-1 64/64".</summary>
    public override string ToString() =>
        $"{Name} [{string.Join(",", Shape)}]: rel L2 {RelativeL2:E2}, max abs {MaxAbsError:E2}" +
        (Rows > 0 ? $", top-1 {Top1Summary}" : "") + (NonFinite > 0 ? $", {NonFinite} non-finite values" : "");
}
