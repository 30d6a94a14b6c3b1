using TrtNative.Ir;
using Xunit;

namespace TrtNative.Tests.Support;

/// <summary>Relative L2 error ‖actual − expected‖₂ / ‖expected‖₂, the accuracy measure of whole-model tests.</summary>
public static class RelativeL2
{
    /// <summary>
    /// The relative L2 error, accumulated in double. NaN when either side holds a NaN or an infinity (so a
    /// "≤ tolerance" check fails); when <paramref name="expected"/> is all zeros, the absolute norm of
    /// <paramref name="actual"/> (0 only for an exact match).
    /// </summary>
    public static double Of(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"lengths differ: {actual.Length} vs {expected.Length}");
        double diff = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (!float.IsFinite(actual[i]) || !float.IsFinite(expected[i])) return double.NaN;
            double d = (double)actual[i] - expected[i];
            diff += d * d;
            norm += (double)expected[i] * expected[i];
        }
        return norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
    }

    /// <summary>The relative L2 error of two float tensors of the same shape (throws when the shapes differ).</summary>
    public static double Of(Tensor actual, Tensor expected)
    {
        if (!actual.Shape.SequenceEqual(expected.Shape))
            throw new ArgumentException($"shapes differ: {actual.Shape.Format()} vs {expected.Shape.Format()}");
        return Of(actual.Floats ?? throw new ArgumentException($"actual is {actual.Type.OnnxName()}, not floating"),
                  expected.Floats ?? throw new ArgumentException($"expected is {expected.Type.OnnxName()}, not floating"));
    }

    /// <summary>Asserts equal shapes and a relative L2 error ≤ <paramref name="tolerance"/>; returns the error.</summary>
    /// <param name="actual">Our result.</param>
    /// <param name="expected">The reference result.</param>
    /// <param name="tolerance">Largest accepted relative L2 error.</param>
    /// <param name="what">Names the comparison in the failure message (model, output, seed).</param>
    public static double AssertWithin(Tensor actual, Tensor expected, double tolerance, string what)
    {
        Assert.True(actual.Shape.SequenceEqual(expected.Shape),
            $"{what}: shape {actual.Shape.Format()} differs from the reference's {expected.Shape.Format()}");
        double err = Of(actual, expected);
        Assert.True(err <= tolerance, $"{what}: relative L2 error {err:G4} exceeds {tolerance:G3} (‖expected‖₂ = {Norm(expected.Floats!):G4})");
        return err;
    }

    /// <summary>The L2 norm, in double.</summary>
    public static double Norm(ReadOnlySpan<float> xs)
    {
        double s = 0;
        foreach (var x in xs) s += (double)x * x;
        return Math.Sqrt(s);
    }
}
