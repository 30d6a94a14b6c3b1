using TrtNative.Cuda;
using TrtNative.Runtime;

namespace TrtNative.Sample.Commands;

/// <summary>
/// The engine-alone measurement shared by bench and loadgen: random inputs at one batch size (already on the GPU),
/// warm-up enqueues, then each timed enqueue between two CUDA events; median and p90 in milliseconds.
/// </summary>
internal static class EngineTiming
{
    /// <summary>The batch nearest <paramref name="batch"/> that the plan's profile allows (its first input's first dimension).</summary>
    public static long ClampBatch(Engine engine, long batch)
    {
        var input = engine.Inputs[0];
        return Math.Clamp(batch, Math.Max(1, input.MinShape[0]), input.MaxShape[0]);
    }

    /// <summary>Sets every input to <paramref name="batch"/> (the first dimension of each symbolic-batch input) and fills them with random values.</summary>
    public static void Prepare(Engine engine, TrtNative.Runtime.EngineContext ec, long batch)
    {
        foreach (var d in engine.Inputs)
            ec.SetInputShape(d.Name, d.Shape.Select((dim, k) => dim.IsKnown ? dim.Value : k == 0 ? batch : d.MaxShape[k]).ToArray());
        ec.FillInputsRandom(seed: 1);
    }

    /// <summary>Times <paramref name="ec"/> at <paramref name="batch"/> (the first dimension of each symbolic-batch input).</summary>
    public static (double MedianMs, double P90Ms) Measure(Engine engine, TrtNative.Runtime.EngineContext ec, CudaStream stream, CudaEvent start, CudaEvent stop,
        long batch, int warmup, int iterations)
    {
        Prepare(engine, ec, batch);
        for (int i = 0; i < warmup; i++) ec.EnqueueAsync(stream);
        stream.Synchronize();
        var times = new double[Math.Max(1, iterations)];
        for (int i = 0; i < times.Length; i++)
        {
            start.Record(stream);
            ec.EnqueueAsync(stream);
            stop.Record(stream);
            stop.Synchronize();
            times[i] = CudaEvent.ElapsedMilliseconds(start, stop);
        }
        Array.Sort(times);
        return (times[times.Length / 2], times[(int)(times.Length * 0.9)]);
    }
}
