using TrtNative.Ir;

namespace TrtNative.Tests.Support;

/// <summary>
/// Random tensors for tests. Every generator takes an explicit seed so a failure can be replayed; tests that want
/// fresh inputs on each run draw the seed with <see cref="FreshSeed"/> and print it in their failure messages.
/// </summary>
public static class RandomTensors
{
    /// <summary>A new seed for this run (different on every call and every run).</summary>
    public static int FreshSeed() => Random.Shared.Next();

    /// <summary>Floats drawn from N(<paramref name="mean"/>, <paramref name="std"/>²).</summary>
    public static float[] NormalFloats(Random rng, long count, float std = 1f, float mean = 0f)
    {
        var r = new float[count];
        for (long i = 0; i < count; i += 2)
        {
            // Box-Muller: two independent normals per pair of uniforms.
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double radius = Math.Sqrt(-2.0 * Math.Log(u1));
            r[i] = mean + std * (float)(radius * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < count) r[i + 1] = mean + std * (float)(radius * Math.Sin(2 * Math.PI * u2));
        }
        return r;
    }

    /// <summary>Floats drawn uniformly from [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static float[] UniformFloats(Random rng, long count, float low, float high)
    {
        var r = new float[count];
        for (long i = 0; i < count; i++) r[i] = low + (high - low) * (float)rng.NextDouble();
        return r;
    }

    /// <summary>A float32 tensor with N(<paramref name="mean"/>, <paramref name="std"/>²) entries.</summary>
    public static Tensor Normal(long[] shape, int seed, float std = 1f, float mean = 0f) =>
        Tensor.FromFloats(NormalFloats(new Random(seed), shape.ElementCount(), std, mean), shape);

    /// <summary>A float32 tensor with entries uniform in [<paramref name="low"/>, <paramref name="high"/>).</summary>
    public static Tensor Uniform(long[] shape, int seed, float low, float high) =>
        Tensor.FromFloats(UniformFloats(new Random(seed), shape.ElementCount(), low, high), shape);

    /// <summary>
    /// One N(0, 1) float32 tensor per graph input, with symbolic dimensions bound by <paramref name="bindings"/>
    /// (e.g. batch = 2). Integer inputs are not supported here: whole-model tests feed images.
    /// </summary>
    public static Dictionary<string, Tensor> ForInputs(Graph g, IReadOnlyDictionary<string, long> bindings, int seed)
    {
        var rng = new Random(seed);
        var r = new Dictionary<string, Tensor>();
        foreach (var i in g.Inputs)
        {
            if (i.Type != DataType.Float)
                throw new ArgumentException($"input '{i.Name}' is {i.Type.OnnxName()}; RandomTensors.ForInputs makes float32 inputs only");
            var shape = (i.Shape ?? throw new ArgumentException($"input '{i.Name}' has no shape")).Resolve(bindings);
            r[i.Name] = Tensor.FromFloats(NormalFloats(rng, shape.ElementCount()), shape);
        }
        return r;
    }
}
