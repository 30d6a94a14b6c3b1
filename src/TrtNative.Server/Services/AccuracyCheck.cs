using TrtNative.Runtime;
using TrtNative.Server.Inference;

namespace TrtNative.Server.Services;

/// <summary>
/// The check a GPU service gets when its engine is built: the engine and ONNX Runtime (CPU) run the same few random
/// inputs, and the comparison (rel L2, max abs error, non-finite values, top-1 agreement) is reported in
/// GET /services/{name}, so an engine that computes garbage (an fp16 overflow, say) is seen before it serves.
/// </summary>
public static class AccuracyCheck
{
    /// <summary>How many inputs are compared.</summary>
    public const int Items = 4;

    /// <summary>Runs <see cref="Items"/> fresh N(0,1) model inputs (C × H × W each) through both backends and compares the scores.</summary>
    public static OutputComparison Run(IInferenceBackend engine, IInferenceBackend reference, int channels, int height, int width, int seed)
    {
        var rng = new Random(seed);
        int chw = channels * height * width;
        var items = new List<PreparedImage>(Items);
        for (int i = 0; i < Items; i++) items.Add(PreparedImage.FromTensor(RandomInputs.Normal(rng, chw), channels));
        var actual = RunAll(engine, items);
        var expected = RunAll(reference, items);
        return OutputComparison.Of("scores", actual, expected, [Items, actual.Length / Items]);
    }

    // In batches the backend accepts, concatenated in item order.
    private static float[] RunAll(IInferenceBackend backend, List<PreparedImage> items)
    {
        var scores = new List<float>();
        for (int i = 0; i < items.Count; i += backend.MaxBatchSize)
            scores.AddRange(backend.Run(items.GetRange(i, Math.Min(backend.MaxBatchSize, items.Count - i))));
        return scores.ToArray();
    }
}
