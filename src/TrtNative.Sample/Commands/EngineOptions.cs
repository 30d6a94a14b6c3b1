using System.CommandLine;
using System.CommandLine.Parsing;
using TrtNative.Cuda;
using TrtNative.Runtime;
using TrtNative.Sample.LoadGen;

namespace TrtNative.Sample.Commands;

/// <summary>Options shared by build, run and bench (<see cref="Symbols"/> declares them on a command), and the
/// "plan or model" loading they have in common.</summary>
internal sealed class EngineOptions
{
    public string Path = "";
    public Precision Precision = Precision.Fp16;
    public long MinBatch = 1, OptBatch = 8, MaxBatch = 64;
    public long WorkspaceMiB = 512;
    public int OptimizationLevel = BuilderConfig.DefaultOptimizationLevel;
    public string? TimingCache;
    public string? Output;
    public List<long> Batches = new();
    public int Warmup = 20, Iterations = 200, Seed = -1;
    public bool NoGraph, LayerTimes, NoPrecisionProtection;
    public string? Calibration;

    /// <summary>The largest --workspace (1 TiB): its bytes must fit a long.</summary>
    public const long MaxWorkspaceMiB = 1L << 20;

    /// <summary>The model <see cref="Open"/> built the engine from (null for a plan), for commands that need it again.</summary>
    public TrtNative.Onnx.OnnxModel? Model;

    /// <summary>
    /// The command-line symbols of the engine commands: every one takes a plan or model and the options that shape
    /// an engine built from a model; the constructor's flags add the options only some commands use.
    /// </summary>
    internal sealed class Symbols
    {
        public readonly Argument<FileInfo> Path = new Argument<FileInfo>("PLAN|MODEL.onnx")
        {
            Description = "an engine plan, or an ONNX model to build the engine from",
        }.AcceptExistingOnly();
        public readonly Option<bool> Fp16 = new("--fp16") { Description = "build an fp16 engine from a model (the default)" };
        public readonly Option<bool> Fp32 = new("--fp32") { Description = "build an fp32 engine from a model" };
        public readonly Option<bool> Bf16 = new("--bf16") { Description = "build a bf16 engine from a model (fp32's range, fp16's speed on Ampere and Hopper)" };
        public readonly Option<long[]> Profile = new("--profile")
        {
            Description = "batch sizes of the engine built from a model: smallest, the one to tune for, largest (1 <= MIN <= OPT <= MAX) [default: 1:8:64]",
            HelpName = "MIN:OPT:MAX",
            CustomParser = ParseProfile,
        };
        public readonly Option<long> Workspace = new Option<long>("--workspace")
        {
            Description = "workspace limit of the engine built from a model, in MiB",
            HelpName = "MiB",
            DefaultValueFactory = _ => 512,
        }.AtLeast(1).AtMost(MaxWorkspaceMiB);
        public readonly Option<int> OptimizationLevel = new Option<int>("--optimization-level")
        {
            Description = "how many tactics autotuning tries, 0..5 like TensorRT's (3: up to 12 cuDNN graph configurations per " +
                          "convolution, 3 of them compiled at run time; 0-1: no run-time compilation, fastest build)",
            HelpName = "N",
            DefaultValueFactory = _ => BuilderConfig.DefaultOptimizationLevel,
        }.AtLeast(0).AtMost(5);
        public readonly Option<bool> NoPrecisionProtection = new("--no-precision-protection")
        {
            Description = "build pure fp16/bf16: no automatic mixed precision (by default nodes that overflow or drift in the reduced type are found on calibration inputs and kept in fp32)",
        };
        public readonly Option<DirectoryInfo?> Calibration = new("--calibration")
        {
            Description = "a folder of sample images for precision protection's calibration (default: random N(0,1) inputs); " +
                          "resized to the input, scaled to [0,1], ImageNet mean/std for 3 channels",
            HelpName = "DIR",
        };
        public readonly Option<FileInfo?> TimingCache = new("--timing-cache")
        {
            Description = "timing cache file: tactics are read from it and the new ones written back (created when missing)",
            HelpName = "FILE",
        };
        public Option<FileInfo?>? Output;
        public Option<long[]>? Batch;
        public Option<int>? Seed, Warmup, Iterations;
        public Option<bool>? NoGraph, LayerTimes;

        /// <summary>Declares the symbols on <paramref name="command"/>: -o (build), --batch (run, bench), --seed (run), the measuring options (bench).</summary>
        public Symbols(Command command, bool output = false, bool batch = false, bool seed = false, bool bench = false)
        {
            // AcceptExistingOnly lets a directory through as a FileInfo. (The raw token: the value of a missing file
            // cannot be read here.)
            Path.Validators.Add(r =>
            {
                if (r.Tokens is [var t] && Directory.Exists(t.Value)) r.AddError($"'{t.Value}' is a directory, not a plan or an ONNX model");
            });
            command.Add(Path);
            command.Add(Fp16);
            command.Add(Fp32);
            command.Add(Bf16);
            command.Add(Profile);
            command.Add(Workspace);
            command.Add(OptimizationLevel);
            command.Add(NoPrecisionProtection);
            command.Add(Calibration);
            command.Validators.Add(r =>
            {
                if (r.GetValue(Calibration) is not { } dir) return;
                if (!dir.Exists) r.AddError($"--calibration: directory '{dir.FullName}' does not exist");
                else if (CalibrationImages.Files(dir.FullName).Length == 0)
                    r.AddError($"--calibration: '{dir.FullName}' holds no image ({string.Join(", ", CalibrationImages.Extensions)})");
            });
            command.Add(TimingCache.WritableFile());
            Cli.OneOf(command, Fp16, Fp32, Bf16);
            if (output)
                command.Add(Output = new Option<FileInfo?>("--output", "-o") { Description = "where to write the plan (default: beside the model, MODEL.fp16.plan, MODEL.bf16.plan or MODEL.fp32.plan)", HelpName = "PLAN" }.WritableFile());
            if (batch)
                command.Add(Batch = new Option<long[]>("--batch")
                {
                    Description = bench ? "batch sizes to measure, comma-separated (default: the profile's MIN)" : "batch size (default: the profile's MIN)",
                    HelpName = bench ? "N,N.." : "N",
                    Arity = ArgumentArity.ExactlyOne,
                    CustomParser = ParseBatches,
                });
            if (batch && !bench)
                Batch!.Validators.Add(r =>
                {
                    if (r.Tokens is [var t] && t.Value.Contains(',')) r.AddError($"--batch '{t.Value}': this command runs one batch size (bench measures several)");
                });
            if (seed)
                command.Add(Seed = new Option<int>("--seed") { Description = "seed of the random inputs (default: a random one)", HelpName = "S", DefaultValueFactory = _ => -1 });
            if (bench)
            {
                command.Add(Warmup = new Option<int>("--warmup") { Description = "runs before measuring, per batch size", HelpName = "N", DefaultValueFactory = _ => 20 }.AtLeast(0));
                command.Add(Iterations = new Option<int>("--iters") { Description = "measured runs per batch size", HelpName = "N", DefaultValueFactory = _ => 200 }.AtLeast(1));
                command.Add(NoGraph = new Option<bool>("--no-graph") { Description = "plain launches instead of CUDA graph replays" });
                command.Add(LayerTimes = new Option<bool>("--layers") { Description = "also time each layer (median of 5 profiled runs): the 15 slowest layers and the time per kind" });
            }
        }

        /// <summary>The parsed values.</summary>
        public EngineOptions Bind(ParseResult r)
        {
            var profile = r.GetValue(Profile) is { Length: 3 } p ? p : [1, 8, 64]; // absent: empty
            var o = new EngineOptions
            {
                Path = r.GetValue(Path)!.FullName,
                Precision = r.GetValue(Fp32) ? Precision.Fp32 : r.GetValue(Bf16) ? Precision.Bf16 : Precision.Fp16,
                MinBatch = profile[0], OptBatch = profile[1], MaxBatch = profile[2],
                WorkspaceMiB = r.GetValue(Workspace),
                OptimizationLevel = r.GetValue(OptimizationLevel),
                TimingCache = r.GetValue(TimingCache)?.FullName,
                Output = Output is null ? null : r.GetValue(Output)?.FullName,
                Seed = Seed is null ? -1 : r.GetValue(Seed),
                Warmup = Warmup is null ? 20 : r.GetValue(Warmup),
                Iterations = Iterations is null ? 200 : r.GetValue(Iterations),
                NoGraph = NoGraph is not null && r.GetValue(NoGraph),
                LayerTimes = LayerTimes is not null && r.GetValue(LayerTimes),
                NoPrecisionProtection = r.GetValue(NoPrecisionProtection),
                Calibration = r.GetValue(Calibration)?.FullName,
            };
            if (Batch is not null && r.GetValue(Batch) is { Length: > 0 } batches) o.Batches.AddRange(batches);
            if (o.Batches.Count == 0) o.Batches.Add(o.MinBatch);
            return o;
        }

        private static long[] ParseProfile(ArgumentResult r)
        {
            string text = r.Tokens.Count == 1 ? r.Tokens[0].Value : string.Join(" ", r.Tokens.Select(t => t.Value));
            var parts = text.Split(':');
            var v = new long[parts.Length];
            if (parts.Length != 3 || parts.Select((p, i) => long.TryParse(p, out v[i])).Any(ok => !ok))
            {
                r.AddError($"--profile '{text}': expected MIN:OPT:MAX, three batch sizes such as 1:8:64");
                return [1, 8, 64];
            }
            if (!(1 <= v[0] && v[0] <= v[1] && v[1] <= v[2]))
                r.AddError($"--profile {text}: the batch sizes must satisfy 1 <= MIN <= OPT <= MAX");
            return v;
        }

        // The one number-list syntax of the Sample's options (LoadGenOptions.ParseCounts), its error as the parse error.
        private static long[] ParseBatches(ArgumentResult r)
        {
            try
            {
                return LoadGenOptions.ParseCounts(string.Join(',', r.Tokens.Select(t => t.Value)), "--batch", "batch size", min: 1)
                    .Select(b => (long)b).ToArray();
            }
            catch (FormatException e)
            {
                r.AddError(e.Message);
                return [];
            }
        }
    }

    public BuilderConfig Config()
    {
        var c = new BuilderConfig
        {
            Precision = Precision, MaxWorkspaceSize = WorkspaceMiB << 20, PrecisionProtection = !NoPrecisionProtection,
            OptimizationLevel = OptimizationLevel,
        };
        if (TimingCache is not null) c.TimingCache = TimingCacheFile.Load(TimingCache, WarnCorruptTimingCache);
        return c;
    }

    // A damaged timing cache only costs the timings it held: warned about when read, and again when the build's
    // timings replace it (its merge reads it a second time), never an error that loses the build.
    private static void WarnCorruptTimingCache(string warning) => Console.Error.WriteLine("timing cache: " + warning);

    private bool IsModel => Path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Reads an ONNX model and checks its input (a plan is read by <see cref="Open"/>), then creates the CUDA context:
    /// a model's own problems are named on any machine, not hidden behind "no usable GPU". Null, with the reason
    /// written, when there is no usable GPU.
    /// </summary>
    public CudaContext? ReadModelThenCreateContext(string command)
    {
        if (IsModel)
        {
            // One read and parse of the model: hash, signature and graph come from it.
            Model = TrtNative.Onnx.OnnxModel.Load(Path);
            FirstInput(Model);
        }
        if (!CudaPlatform.IsAvailable(out string reason))
        {
            Console.Error.WriteLine($"{command}: no usable GPU: {reason}");
            return null;
        }
        return CudaContext.Create();
    }

    private (TrtNative.Ir.ValueInfo Input, TrtNative.Ir.Dim[] Shape) FirstInput(TrtNative.Onnx.OnnxModel model)
    {
        var input = model.Graph.Inputs.FirstOrDefault() ?? throw new TrtNativeException(ErrorCode.Unsupported, $"{Path} has no graph inputs");
        return (input, input.Shape ?? throw new TrtNativeException(ErrorCode.Unsupported, $"input '{input.Name}' has no shape"));
    }

    /// <summary>Loads a plan, or builds the ONNX model (profile over the first input's batch dimension).</summary>
    public Engine Open(CudaContext ctx, bool verbose)
    {
        if (!IsModel)
        {
            var sw0 = System.Diagnostics.Stopwatch.StartNew();
            var e = Engine.Load(ctx, Path);
            if (verbose) Console.WriteLine($"loaded plan {Path} in {sw0.Elapsed.TotalSeconds:F2} s ({e.LayerCount} layers)");
            return e;
        }
        var model = Model ??= TrtNative.Onnx.OnnxModel.Load(Path);
        var config = Config();
        var (input, shape) = FirstInput(model);
        if (shape.Length > 0 && !shape[0].IsKnown)
        {
            long[] Fix(long b) => shape.Select((d, k) => k == 0 ? b : d.Value).ToArray();
            config.OptimizationProfiles.Add(new OptimizationProfile().Set(input.Name, Fix(MinBatch), Fix(OptBatch), Fix(MaxBatch)));
        }
        if (Calibration is not null)
        {
            config.CalibrationInputs = CalibrationImages.Load(Calibration, input.Name, shape, MinBatch, MaxBatch);
            if (verbose) Console.WriteLine($"calibration: {config.CalibrationInputs.Count} batch(es) of images from {Calibration}");
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var engine = new Builder(ctx).Build(model, config, new ProgressLine(verbose ? Console.Out : TextWriter.Null));
        if (verbose) Console.WriteLine($"built {Path} ({Precision}, batch {MinBatch}..{MaxBatch}) in {sw.Elapsed.TotalSeconds:F1} s: {engine.LayerCount} layers, weights {engine.WeightBytes / 1048576.0:F1} MiB, activations {engine.ActivationBytes / 1048576.0:F1} MiB");
        if (verbose) foreach (var k in engine.KeptInFp32) Console.WriteLine($"  kept in fp32: {k}");
        if (TimingCache is not null && config.TimingCache is not null) TimingCacheFile.MergeAndSave(TimingCache, config.TimingCache, WarnCorruptTimingCache);
        return engine;
    }

    /// <summary>
    /// Prints one line per finished build phase as it comes (Progress&lt;T&gt; would post them to the thread pool):
    /// elapsed time, a bar of finished phases, the phase and its message.
    /// </summary>
    internal sealed class ProgressLine(TextWriter to) : IProgress<BuildProgress>
    {
        private readonly System.Diagnostics.Stopwatch _sw = System.Diagnostics.Stopwatch.StartNew();

        public void Report(BuildProgress value)
        {
            // A phase's start is shown only for the slow GPU phases, so a long autotune says what it is doing.
            bool end = value.Step == (int)value.Phase + 1;
            if (!end && value.Phase is not (BuildPhase.CreateEngine or BuildPhase.Tune or BuildPhase.ProtectPrecision)) return;
            to.WriteLine(Format(value, _sw.Elapsed));
        }

        internal static string Format(BuildProgress p, TimeSpan elapsed)
        {
            int total = Math.Max(p.Total, 1), done = Math.Clamp(p.Step, 0, total);
            return $"  [{elapsed.TotalSeconds,6:F1} s] [{new string('#', done)}{new string('.', total - done)}] {p.Phase,-12} {p.Message}";
        }
    }
}
