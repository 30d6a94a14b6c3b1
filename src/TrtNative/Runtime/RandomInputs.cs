namespace TrtNative.Runtime;

/// <summary>Random engine inputs for checks against a reference (the Sample's check, the server's build-time check).</summary>
public static class RandomInputs
{
    /// <summary><paramref name="count"/> standard-normal values (Box–Muller) drawn from <paramref name="rng"/>.</summary>
    public static float[] Normal(Random rng, int count)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var v = new float[count];
        for (int i = 0; i < count; i++)
            v[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return v;
    }
}
