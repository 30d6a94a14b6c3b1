using TrtNative.Cuda;
using TrtNative.Runtime;

namespace TrtNative.Sample.Commands;

/// <summary>
/// bench PLAN|MODEL.onnx [--fp16] [--batch 1,32] [--warmup N] [--iters N] [--no-graph]: GPU time per run measured
/// with CUDA events around each enqueue (inputs stay on the GPU), median after warm-up; one BENCH line per batch.
/// </summary>
internal static class BenchCommand
{
    public static int Run(string[] args)
    {
        var o = EngineOptions.Parse(args, "bench");
        if (!CudaPlatform.IsAvailable(out string reason)) { Console.Error.WriteLine("bench: no usable GPU: " + reason); return 1; }
        using var ctx = CudaContext.Create();
        o.MaxBatch = Math.Max(o.MaxBatch, o.Batches.Max());
        using var engine = o.Open(ctx, verbose: true);
        using var ec = engine.CreateExecutionContext();
        if (o.NoGraph) ec.SetGraphCapture(false);
        using var stream = CudaStream.Create(ctx);
        using var start = CudaEvent.Create(ctx);
        using var stop = CudaEvent.Create(ctx);
        string model = System.IO.Path.GetFileNameWithoutExtension(o.Path);
        foreach (long batch in o.Batches)
        {
            foreach (var d in engine.Inputs)
                ec.SetInputShape(d.Name, d.Shape.Select((dim, k) => dim.IsKnown ? dim.Value : k == 0 ? batch : d.MaxShape[k]).ToArray());
            ec.FillInputsRandom(seed: 1);
            for (int i = 0; i < o.Warmup; i++) ec.EnqueueAsync(stream);
            stream.Synchronize();
            var times = new double[o.Iterations];
            for (int i = 0; i < o.Iterations; i++)
            {
                start.Record(stream);
                ec.EnqueueAsync(stream);
                stop.Record(stream);
                stop.Synchronize();
                times[i] = CudaEvent.ElapsedMilliseconds(start, stop);
            }
            Array.Sort(times);
            double median = times[times.Length / 2], p90 = times[(int)(times.Length * 0.9)];
            Console.WriteLine($"BENCH engine=trtnative model={model} precision={o.Precision} batch={batch} median_ms={median:F4} p90_ms={p90:F4} " +
                              $"imgs_per_s={batch / median * 1000:F1} graph={ec.GraphState}");
        }
        return 0;
    }
}
