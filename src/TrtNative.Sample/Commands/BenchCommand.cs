using System.CommandLine;
using TrtNative.Cuda;
using TrtNative.Runtime;

namespace TrtNative.Sample.Commands;

/// <summary>
/// bench PLAN|MODEL.onnx [--fp16|--fp32] [--profile MIN:OPT:MAX] [--batch 1,32] [--warmup N] [--iters N] [--no-graph] [--layers]: GPU time per run
/// measured with CUDA events around each enqueue (inputs stay on the GPU), median after warm-up; one BENCH line per
/// batch. --layers adds each layer's time (median of 5 profiled runs): the 15 slowest layers with what each runs (cuDNN
/// graph configuration, legacy algorithm, cuBLASLt heuristic, ...), the time per kind, and per implementation family.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Latency and throughput of an engine with CUDA events (median after warm-up), one BENCH line per batch size.");
        var symbols = new EngineOptions.Symbols(command, batch: true, bench: true);
        Cli.SetAction(command, r => Run(symbols.Bind(r)));
        return command;
    }

    public static int Run(EngineOptions o)
    {
        using var ctx = o.ReadModelThenCreateContext("bench");
        if (ctx is null) return Cli.Failed;
        o.MaxBatch = Math.Max(o.MaxBatch, o.Batches.Max());
        using var engine = o.Open(ctx, verbose: true);
        using var ec = engine.CreateContext();
        if (o.NoGraph) ec.SetGraphCapture(false);
        using var stream = CudaStream.Create(ctx);
        using var start = CudaEvent.Create(ctx);
        using var stop = CudaEvent.Create(ctx);
        string model = System.IO.Path.GetFileNameWithoutExtension(o.Path);
        foreach (long batch in o.Batches)
        {
            var (median, p90) = EngineTiming.Measure(engine, ec, stream, start, stop, batch, o.Warmup, o.Iterations);
            Console.WriteLine($"BENCH engine=trtnative model={model} precision={o.Precision} batch={batch} median_ms={median:F4} p90_ms={p90:F4} " +
                              $"imgs_per_s={batch / median * 1000:F1} graph={ec.GraphState}");
            if (o.LayerTimes) PrintLayerTimes(ec, stream, batch);
        }
        return 0;
    }

    // "cudnn graph+epilogue eng12_k2=1" -> "cudnn graph+epilogue"; "cublasLt heuristic 3 +residual" -> "cublasLt +residual".
    private static string Family(string implementation) =>
        string.Join(' ', implementation.Split(' ').Where(w => !w.StartsWith("eng", StringComparison.Ordinal) && !w.All(char.IsDigit)));

    private static void PrintLayerTimes(TrtNative.Runtime.EngineContext ec, CudaStream stream, long batch)
    {
        var runs = Enumerable.Range(0, 5).Select(_ => ec.ProfileLayers(stream)).ToArray();
        var layers = runs[0].Select((l, i) => l with { Milliseconds = runs.Select(r => r[i].Milliseconds).Order().ElementAt(runs.Length / 2) }).ToArray();
        double total = layers.Sum(l => (double)l.Milliseconds);
        Console.WriteLine($"LAYERS batch={batch} count={layers.Length} sum_ms={total:F4} (plain launches, each with its launch; a graph replay is faster)");
        foreach (var l in layers.OrderByDescending(l => l.Milliseconds).Take(15))
            Console.WriteLine($"LAYER batch={batch} ms={l.Milliseconds:F4} share={100 * l.Milliseconds / total:F1}% kind={l.Kind} out=[{string.Join(",", l.OutputShape)}] name={l.Name} impl=\"{l.Implementation}\"");
        // What every convolution, GEMM and attention layer runs, counted (e.g. how many convolutions took a fused graph).
        foreach (var g in layers.Where(l => l.Kind is "Conv" or "Gemm" or "Attention").GroupBy(l => (l.Kind, Family: Family(l.Implementation))).OrderBy(g => g.Key.Kind))
            Console.WriteLine($"IMPL batch={batch} kind={g.Key.Kind} impl=\"{g.Key.Family}\" count={g.Count()} ms={g.Sum(l => l.Milliseconds):F4}");
        foreach (var g in layers.GroupBy(l => l.Kind).OrderByDescending(g => g.Sum(l => l.Milliseconds)))
            Console.WriteLine($"KIND batch={batch} kind={g.Key} count={g.Count()} ms={g.Sum(l => l.Milliseconds):F4} share={100 * g.Sum(l => l.Milliseconds) / total:F1}%");
    }
}
