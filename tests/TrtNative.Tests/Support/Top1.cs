using TrtNative.Runtime;

namespace TrtNative.Tests.Support;

/// <summary>
/// Top-1 agreement of classifier outputs laid out as rows of logits (shared by the CPU tests and, linked, the GPU
/// tests), on the engine's own arg-max and agreement count (<see cref="OutputComparison"/>, which also has the
/// agreement over decisive rows and the tie margin).
/// </summary>
internal static class Top1
{
    /// <summary>How many of the <paramref name="rows"/> rows have the same top-1 in both.</summary>
    public static int Agree(float[] got, float[] want, int rows) =>
        OutputComparison.Of("top-1", got, want, [rows, want.Length / rows]).Top1Agree;
}
