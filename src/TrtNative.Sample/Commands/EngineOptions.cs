using TrtNative.Cuda;
using TrtNative.Runtime;

namespace TrtNative.Sample.Commands;

/// <summary>Options shared by build, run and bench, and the "plan or model" loading they have in common.</summary>
internal sealed class EngineOptions
{
    public string Path = "";
    public Precision Precision = Precision.Fp16;
    public long MinBatch = 1, OptBatch = 8, MaxBatch = 64;
    public long WorkspaceMiB = 512;
    public string? TimingCache;
    public string? Output;
    public List<long> Batches = new();
    public int Warmup = 20, Iterations = 200, Seed = -1;
    public bool NoGraph, LayerTimes;

    public static EngineOptions Parse(string[] args, string command)
    {
        var o = new EngineOptions();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new TrtNativeException(ErrorCode.InvalidArgument, $"{command}: {a} needs a value");
            switch (a)
            {
                case "--fp16": o.Precision = Precision.Fp16; break;
                case "--fp32": o.Precision = Precision.Fp32; break;
                case "--profile":
                {
                    var p = Next().Split(':').Select(long.Parse).ToArray();
                    if (p.Length != 3) throw new TrtNativeException(ErrorCode.InvalidArgument, "--profile MIN:OPT:MAX (batch sizes)");
                    (o.MinBatch, o.OptBatch, o.MaxBatch) = (p[0], p[1], p[2]);
                    break;
                }
                case "--batch": o.Batches.AddRange(Next().Split(',').Select(long.Parse)); break;
                case "--workspace": o.WorkspaceMiB = long.Parse(Next()); break;
                case "--timing-cache": o.TimingCache = Next(); break;
                case "-o": case "--output": o.Output = Next(); break;
                case "--warmup": o.Warmup = int.Parse(Next()); break;
                case "--iters": o.Iterations = int.Parse(Next()); break;
                case "--seed": o.Seed = int.Parse(Next()); break;
                case "--no-graph": o.NoGraph = true; break;
                case "--layers": o.LayerTimes = true; break;
                default:
                    if (a.StartsWith('-') || o.Path.Length > 0) throw new TrtNativeException(ErrorCode.InvalidArgument, $"{command}: unknown argument '{a}'");
                    o.Path = a;
                    break;
            }
        }
        if (o.Path.Length == 0) throw new TrtNativeException(ErrorCode.InvalidArgument, $"{command}: give a model (.onnx) or a plan");
        if (o.Batches.Count == 0) o.Batches.Add(o.MinBatch);
        return o;
    }

    public BuilderConfig Config()
    {
        var c = new BuilderConfig { Precision = Precision, MaxWorkspaceSize = WorkspaceMiB << 20 };
        if (TimingCache is not null && File.Exists(TimingCache)) c.TimingCache = TimingCacheFile.Load(TimingCache, w => Console.Error.WriteLine("timing cache: " + w));
        else if (TimingCache is not null) c.TimingCache = new TimingCache();
        return c;
    }

    /// <summary>Loads a plan, or builds the ONNX model (profile over the first input's batch dimension).</summary>
    public Engine Open(CudaContext ctx, bool verbose)
    {
        if (!Path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            var sw0 = System.Diagnostics.Stopwatch.StartNew();
            var e = Engine.Load(ctx, Path);
            if (verbose) Console.WriteLine($"loaded plan {Path} in {sw0.Elapsed.TotalSeconds:F2} s ({e.LayerCount} layers)");
            return e;
        }
        var graph = TrtNative.Onnx.OnnxImporter.Load(Path);
        var config = Config();
        var input = graph.Inputs[0];
        var shape = input.Shape ?? throw new TrtNativeException(ErrorCode.Unsupported, $"input '{input.Name}' has no shape");
        if (!shape[0].IsKnown)
        {
            long[] Fix(long b) => shape.Select((d, k) => k == 0 ? b : d.Value).ToArray();
            config.OptimizationProfiles.Add(new OptimizationProfile().Set(input.Name, Fix(MinBatch), Fix(OptBatch), Fix(MaxBatch)));
        }
        var progress = new Progress<string>(m => { if (verbose) Console.WriteLine("  " + m); });
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var engine = new Builder(ctx).Build(graph, config, ModelHash.Compute(Path), new SyncProgress(verbose));
        if (verbose) Console.WriteLine($"built {Path} ({Precision}, batch {MinBatch}..{MaxBatch}) in {sw.Elapsed.TotalSeconds:F1} s: {engine.LayerCount} layers, weights {engine.WeightBytes / 1048576.0:F1} MiB, activations {engine.ActivationBytes / 1048576.0:F1} MiB");
        if (TimingCache is not null && config.TimingCache is not null) TimingCacheFile.MergeAndSave(TimingCache, config.TimingCache);
        return engine;
    }

    /// <summary>Prints progress lines as they come (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class SyncProgress(bool verbose) : IProgress<string>
    {
        private readonly System.Diagnostics.Stopwatch _sw = System.Diagnostics.Stopwatch.StartNew();
        public void Report(string value) { if (verbose) Console.WriteLine($"  [{_sw.Elapsed.TotalSeconds,6:F1} s] {value}"); }
    }
}
