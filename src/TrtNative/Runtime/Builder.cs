using System.Security.Cryptography;
using TrtNative.Compiler;
using TrtNative.Cuda;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;

namespace TrtNative.Runtime;

/// <summary>The phases of an engine build, in the order they run.</summary>
public enum BuildPhase
{
    /// <summary>The ONNX graph is imported (from the model parsed at load).</summary>
    Import,
    /// <summary>Graph passes: fold constants and BatchNorm, fuse epilogues, attention.</summary>
    Optimize,
    /// <summary>The optimized graph becomes native layers at the build's precision.</summary>
    Lower,
    /// <summary>Shape ranges are resolved and weights and activations placed in memory (sized for the profile's max).</summary>
    PlanMemory,
    /// <summary>The native engine is created on the GPU and the weights uploaded (GPU).</summary>
    CreateEngine,
    /// <summary>Tactics come from the timing cache or are timed on the GPU (GPU).</summary>
    Tune,
    /// <summary>
    /// Automatic mixed precision (GPU, fp16 and bf16 engines): the reduced and fp32 engines are compared node by node on calibration
    /// inputs; when nodes must be kept in fp32, the engine is lowered, created and tuned again with them.
    /// </summary>
    ProtectPrecision,
}

/// <summary>
/// One progress event of a build. Each phase reports when it starts and when it ends; <see cref="Step"/> counts the
/// phases finished so far out of <see cref="Total"/>, so Step / Total is the fraction done (a progress bar).
/// </summary>
/// <param name="Phase">The phase this event belongs to.</param>
/// <param name="Step">Phases finished so far (the phase's start reports one less than its end).</param>
/// <param name="Total">Number of phases in this build.</param>
/// <param name="Message">What happens or happened, for people: "optimized: 53 nodes (120 changes)".</param>
public sealed record BuildProgress(BuildPhase Phase, int Step, int Total, string Message)
{
    /// <summary>"[3/6] Lower: lowered: 54 layers, 44.6 MiB of weights".</summary>
    public override string ToString() => $"[{Step}/{Total}] {Phase}: {Message}";
}

/// <summary>What the CPU phases of a build produce: the lowered program, its resolved profile and memory plan.</summary>
internal sealed record CompiledProgram(LayerProgram Program, IReadOnlyDictionary<string, InputShapeRange> Profile, MemoryPlan Memory,
    Dictionary<string, long> MaxBindings, Dictionary<string, long> OptBindings, PassLog Log);

/// <summary>
/// Builds GPU engines from ONNX models in phases (<see cref="BuildPhase"/>): import, optimize (fold constants, fold
/// BatchNorm, fuse conv/gemm epilogues), lower to native layers and plan memory run on the CPU; creating the engine and
/// choosing tactics (timing them on the GPU, or from the timing cache) need the GPU.
/// </summary>
public sealed class Builder
{
    /// <summary>Phases of a build, for <see cref="BuildProgress.Total"/>.</summary>
    internal static readonly int PhaseCount = Enum.GetValues<BuildPhase>().Length;

    /// <summary>A builder for the GPU of <paramref name="context"/>.</summary>
    public Builder(CudaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Context = context;
    }

    /// <summary>The CUDA context engines are built in.</summary>
    public CudaContext Context { get; }

    /// <summary>Loads <paramref name="onnxPath"/> once (<see cref="OnnxModel.Load"/>) and builds it.</summary>
    public Engine BuildFromOnnx(string onnxPath, BuilderConfig config, IProgress<BuildProgress>? progress = null) =>
        Build(OnnxModel.Load(onnxPath), config, progress);

    /// <summary>Builds <paramref name="model"/>; the plan header records its <see cref="OnnxModel.ContentHash"/>.</summary>
    /// <exception cref="TrtNativeException">Unsupported (naming the node), InvalidArgument (profile), OutOfMemory, CudaError.</exception>
    public Engine Build(OnnxModel model, BuilderConfig config, IProgress<BuildProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        var settings = Validate(config);
        var graph = Import(model, progress);
        return Build(graph, settings, config.TimingCache, config.CalibrationInputs, model.ContentHash, progress);
    }

    /// <summary>
    /// Builds <paramref name="graph"/> (it is optimized here; the input graph is not changed). <paramref name="modelHash"/>
    /// is recorded in the plan header; by default it is a hash of the lowered program, weights included.
    /// </summary>
    /// <exception cref="TrtNativeException">Unsupported (naming the node), InvalidArgument (profile), OutOfMemory, CudaError.</exception>
    public Engine Build(Graph graph, BuilderConfig config, string? modelHash = null, IProgress<BuildProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(config);
        var settings = Validate(config);
        Report(progress, BuildPhase.Import, end: false, $"graph '{graph.Name}' given: {graph.Nodes.Count} nodes");
        Report(progress, BuildPhase.Import, end: true, $"graph '{graph.Name}': {graph.Nodes.Count} nodes");
        return Build(graph, settings, config.TimingCache, config.CalibrationInputs, modelHash, progress);
    }

    private Engine Build(Graph graph, BuildSettings settings, TimingCache? cache, IReadOnlyList<IReadOnlyDictionary<string, Tensor>>? calibration,
        string? modelHash, IProgress<BuildProgress>? progress)
    {
        var log = new PassLog();
        var optimized = Optimize(graph, log, progress);
        var compiled = Compile(optimized, new LoweringOptions { Activation = settings.Precision.ActivationType() }, settings, log, progress);
        var engine = CreateAndTune(compiled, settings, cache, modelHash, progress);
        return ProtectPrecision(engine, optimized, log, settings, cache, calibration, modelHash, progress);
    }

    /// <summary>The GPU phases: the engine created (header filled in) and its tactics chosen.</summary>
    private Engine CreateAndTune(CompiledProgram compiled, BuildSettings settings, TimingCache? cache, string? modelHash, IProgress<BuildProgress>? progress)
    {
        var (header, gpu) = Header(settings, modelHash ?? HashProgram(compiled.Program));
        var cached = CachedTactics(compiled, settings, cache, gpu);
        var engine = CreateEngine(compiled, header, progress);
        return Tune(engine, compiled, settings, cache, cached, progress);
    }

    /// <summary>The plan header of an engine built here and now with <paramref name="settings"/>, and the GPU's description.</summary>
    private (PlanHeader Header, GpuInfo Gpu) Header(BuildSettings settings, string modelHash)
    {
        NativeLibraryLoader.EnsureLoaded();
        var gpu = GpuInfo.Query(Context.Device.Ordinal);
        return (new PlanHeader
        {
            GpuName = gpu.Name,
            ComputeCapability = gpu.ComputeCapability,
            CudaDriverVersion = gpu.CudaDriverVersion,
            CudnnVersion = gpu.CudnnVersion,
            CublasLtVersion = gpu.CublasLtVersion,
            ModelHash = modelHash,
            Settings = settings,
        }, gpu);
    }

    /// <summary>
    /// A diagnostic (`TrtNative.Sample check`): every node output of <paramref name="model"/> in the reduced precision
    /// of <paramref name="config"/> (with <paramref name="keptInFp32"/> in fp32, as an engine's
    /// <see cref="Engine.KeptInFp32"/>) against an fp32 engine on <paramref name="inputs"/>, in graph order. Builds
    /// two observed engines with heuristic tactics for the inputs' shapes.
    /// </summary>
    /// <exception cref="TrtNativeException">InvalidArgument for an fp32 config or inputs that do not fit the model.</exception>
    public IReadOnlyList<NodeDrift> CompareNodesWithFp32(OnnxModel model, BuilderConfig config, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> inputs,
        IEnumerable<PrecisionChoice>? keptInFp32 = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(inputs);
        var settings = Validate(config);
        if (settings.Precision == Precision.Fp32)
            throw new TrtNativeException(ErrorCode.InvalidArgument, "comparing node by node with fp32 needs a reduced-precision config (fp16 or bf16)");
        var optimized = Optimize(model.Graph, new PassLog(), null);
        var calibration = CalibrationSettings(optimized, settings, inputs);
        var (header, _) = Header(settings, model.ContentHash);
        var keep = (keptInFp32 ?? []).ToDictionary(k => k.Node, k => k.Reason, StringComparer.Ordinal);
        var reference = RunObserved(optimized, new LoweringOptions { Fp16 = false }, calibration, header, inputs);
        var reduced = RunObserved(optimized, new LoweringOptions { Activation = settings.Precision.ActivationType(), KeepFp32 = keep }, calibration, header, inputs);
        return PrecisionProtection.ByNode(optimized, PrecisionProtection.Compare(reduced, reference), keep.Keys.ToHashSet(StringComparer.Ordinal),
            PrecisionBudget.For(settings.Precision));
    }

    /// <summary>The typed options of <paramref name="config"/>, checked.</summary>
    private static BuildSettings Validate(BuilderConfig config)
    {
        var settings = config.Settings();
        if (settings.MaxWorkspaceSize < 0) throw new TrtNativeException(ErrorCode.InvalidArgument, "MaxWorkspaceSize must not be negative");
        return settings;
    }

    /// <summary>Import phase: the model's graph, imported from the parse done at load.</summary>
    internal static Graph Import(OnnxModel model, IProgress<BuildProgress>? progress)
    {
        Report(progress, BuildPhase.Import, end: false, $"importing {Path.GetFileName(model.Path)}");
        var graph = model.Graph;
        Report(progress, BuildPhase.Import, end: true, $"imported {graph.Nodes.Count} nodes, {graph.Initializers.Count} initializers");
        return graph;
    }

    /// <summary>The CPU phases after import: optimize, lower, plan memory.</summary>
    internal static CompiledProgram CompileOnCpu(Graph graph, BuildSettings settings, IProgress<BuildProgress>? progress)
    {
        var log = new PassLog();
        var optimized = Optimize(graph, log, progress);
        return Compile(optimized, new LoweringOptions { Activation = settings.Precision.ActivationType() }, settings, log, progress);
    }

    /// <summary>Lower and plan-memory phases of an optimized graph.</summary>
    private static CompiledProgram Compile(Graph optimized, LoweringOptions options, BuildSettings settings, PassLog log, IProgress<BuildProgress>? progress) =>
        PlanMemory(Lower(optimized, options, progress), settings, log, progress);

    /// <summary>Optimize phase: the optimizer's pass table over a copy of <paramref name="graph"/>.</summary>
    internal static Graph Optimize(Graph graph, PassLog log, IProgress<BuildProgress>? progress)
    {
        Report(progress, BuildPhase.Optimize, end: false, $"optimizing {graph.Nodes.Count} nodes");
        var optimized = Optimizer.Optimize(graph, log);
        Report(progress, BuildPhase.Optimize, end: true, $"optimized: {optimized.Nodes.Count} nodes ({log.Entries.Count} changes)");
        return optimized;
    }

    /// <summary>Lower phase: native layers at <paramref name="precision"/>.</summary>
    internal static LayerProgram Lower(Graph optimized, Precision precision, IProgress<BuildProgress>? progress) =>
        Lower(optimized, new LoweringOptions { Activation = precision.ActivationType() }, progress);

    /// <summary>Lower phase with per-node precision.</summary>
    internal static LayerProgram Lower(Graph optimized, LoweringOptions options, IProgress<BuildProgress>? progress)
    {
        string precision = options.Activation.ShortName();
        Report(progress, BuildPhase.Lower, end: false, $"lowering {optimized.Nodes.Count} nodes for {precision}" + (options.KeepFp32.Count > 0 ? $", {options.KeepFp32.Count} kept in fp32" : ""));
        var program = GpuLowering.Lower(optimized, options);
        Report(progress, BuildPhase.Lower, end: true, $"lowered: {program.Layers.Count} layers, {program.WeightBytes / 1048576.0:F1} MiB of weights");
        return program;
    }

    /// <summary>Plan-memory phase: the profile resolved against the program's inputs, symbol bindings, the memory plan.</summary>
    internal static CompiledProgram PlanMemory(LayerProgram program, BuildSettings settings, PassLog log, IProgress<BuildProgress>? progress)
    {
        Report(progress, BuildPhase.PlanMemory, end: false, $"planning memory for {program.Tensors.Count} tensors");
        var profile = ResolveProfile(program, settings);
        var max = Engine.BindSymbols(program, profile.ToDictionary(kv => kv.Key, kv => kv.Value.Max), "profile max");
        var opt = Engine.BindSymbols(program, profile.ToDictionary(kv => kv.Key, kv => kv.Value.Opt), "profile opt");
        var memory = MemoryPlan.Create(program, max);
        Report(progress, BuildPhase.PlanMemory, end: true,
            $"memory: weights {memory.WeightBytes / 1048576.0:F1} MiB, activations {memory.ArenaBytes / 1048576.0:F1} MiB at the profile's max");
        return new CompiledProgram(program, profile, memory, max, opt, log);
    }

    /// <summary>Create-engine phase (GPU): the native engine, weights uploaded.</summary>
    private Engine CreateEngine(CompiledProgram c, PlanHeader header, IProgress<BuildProgress>? progress)
    {
        Report(progress, BuildPhase.CreateEngine, end: false, $"creating the engine on {header.GpuName}");
        var engine = new Engine(Context, c.Program, c.Profile, header, c.Memory);
        Report(progress, BuildPhase.CreateEngine, end: true, $"engine created: {engine.LayerCount} layers");
        return engine;
    }

    /// <summary>
    /// A build's tuning points (<see cref="TuningPoints"/>: input shapes and the symbol bindings they give) and what the
    /// timing cache holds for them: each tunable layer's key at each point ([point][layer]) and, for each point whose
    /// keys it all has, their tactics ([point] null where the point must be timed). Empty when not autotuning.
    /// </summary>
    private sealed record CachedPoints(IReadOnlyList<IReadOnlyDictionary<string, long[]>> Points, IReadOnlyList<IReadOnlyDictionary<string, long>> Bindings,
        string?[][] Keys, int[]?[] Tactics)
    {
        public bool AllCached => Tactics.Length > 0 && Tactics.All(t => t is not null);
    }

    /// <summary>The timing cache's keys and tactics for <paramref name="c"/>'s tunable layers; sets them on the layers when it has them all.</summary>
    private static CachedPoints CachedTactics(CompiledProgram c, BuildSettings settings, TimingCache? cache, GpuInfo gpu)
    {
        var program = c.Program;
        if (!settings.Autotune) return new CachedPoints([], [], [], []);
        var points = TuningPoints.Of(c.Profile, settings.OptimizationLevel);
        var bindings = points.Select((shapes, k) => (IReadOnlyDictionary<string, long>)Engine.BindSymbols(program, shapes, $"tuning point {k}")).ToList();
        var keys = bindings.Select(_ => new string?[program.Layers.Count]).ToArray();
        var tactics = new int[]?[bindings.Count];
        for (int k = 0; k < bindings.Count; k++)
        {
            var found = new int[program.Layers.Count];
            bool all = true;
            for (int i = 0; i < program.Layers.Count; i++)
            {
                var l = program.Layers[i];
                if (!l.Tunable) continue;
                keys[k][i] = TimingCache.Key(LayerSignature(program, l, bindings[k]), gpu.Name, gpu.ComputeCapability, gpu.CudnnVersion, gpu.CublasLtVersion);
                if (cache is not null && cache.TryGet(keys[k][i]!, out var e) && int.TryParse(e.TacticId, out int t)) found[i] = t;
                else all = false;
            }
            if (all) tactics[k] = found;
        }
        var cached = new CachedPoints(points, bindings, keys, tactics);
        if (cached.AllCached) SetTactics(program, bindings, tactics!);
        return cached;
    }

    /// <summary>Each tunable layer's tactic at the opt shapes (point 0) and, with several points, its tactic at each.</summary>
    private static void SetTactics(LayerProgram program, IReadOnlyList<IReadOnlyDictionary<string, long>> bindings, int[][] tactics)
    {
        for (int i = 0; i < program.Layers.Count; i++)
        {
            var l = program.Layers[i];
            if (!l.Tunable) continue;
            l.Tactic = tactics[0][i];
            l.ShapeTactics = TuningPoints.ShapeTactics(program, l, bindings, tactics.Select(t => t[i]).ToList());
        }
    }

    /// <summary>
    /// Tune phase (GPU): the cached tactics when the cache had them all; else each tuning point (<see cref="TuningPoints"/>)
    /// whose tactics the cache lacks is timed. A layer whose timing-cache key repeats one seen at an earlier point (its
    /// shapes do not change between them, or another layer's at that point are the same) keeps that point's tactic: what
    /// is cached for a key is then exactly what the build chose for it, so a warm build gives the same plan.
    /// </summary>
    private Engine Tune(Engine engine, CompiledProgram c, BuildSettings settings, TimingCache? cache, CachedPoints cached, IProgress<BuildProgress>? progress)
    {
        var program = c.Program;
        if (!settings.Autotune || cached.AllCached)
        {
            string how = settings.Autotune ? "tactics: all from the timing cache" : "tactics: library heuristics (autotune off)";
            Report(progress, BuildPhase.Tune, end: false, how);
            Report(progress, BuildPhase.Tune, end: true, how);
            return engine;
        }
        try
        {
            var points = cached.Points;
            var tactics = new int[points.Count][];
            var chosenFor = new Dictionary<string, int>(StringComparer.Ordinal);
            using (var ctx = engine.CreateContext())
            {
                for (int k = 0; k < points.Count; k++)
                {
                    string where = $"{(k == 0 ? "the opt shapes" : "tuning point " + k)}: {string.Join(", ", points[k].Select(kv => $"{kv.Key} [{string.Join(",", kv.Value)}]"))}";
                    float[]? times = null;
                    if (cached.Tactics[k] is { } fromCache)
                    {
                        Report(progress, BuildPhase.Tune, end: false, $"tactics at {where}: from the timing cache");
                        tactics[k] = (int[])fromCache.Clone();
                    }
                    else
                    {
                        Report(progress, BuildPhase.Tune, end: false, $"autotuning {program.Layers.Count(l => l.Tunable)} layers at {where}");
                        foreach (var (name, shape) in points[k]) ctx.SetInputShape(name, shape);
                        ctx.FillInputsRandom(seed: 1);
                        (tactics[k], times) = ctx.Autotune(settings.MaxWorkspaceSize);
                    }
                    foreach (int i in TuningPoints.KeepEarlierChoices(cached.Keys[k], tactics[k], chosenFor))
                        if (times is not null) cache?.Set(cached.Keys[k][i]!, tactics[k][i].ToString(), times[i]);
                }
            }
            SetTactics(program, cached.Bindings, tactics);
            // Rebuild the native engine so its layer list carries the tactics exactly as a loaded plan would.
            var tuned = new Engine(Context, program, c.Profile, engine.Header, c.Memory);
            engine.Dispose();
            Report(progress, BuildPhase.Tune, end: true, points.Count == 1 ? "autotuned" : $"autotuned at {points.Count} tuning points");
            return tuned;
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Protect-precision phase (GPU): for an fp16 or bf16 engine with protection on, the search of
    /// <see cref="PrecisionProtection"/> with observed reduced-precision and fp32 engines (heuristic tactics, sized for the calibration
    /// shapes) as the runs; when it keeps nodes in fp32, <paramref name="engine"/> is replaced by one lowered with them.
    /// </summary>
    private Engine ProtectPrecision(Engine engine, Graph optimized, PassLog log, BuildSettings settings, TimingCache? cache,
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>>? calibration, string? modelHash, IProgress<BuildProgress>? progress)
    {
        if (settings.Precision == Precision.Fp32 || !settings.PrecisionProtection)
        {
            string why = settings.Precision == Precision.Fp32 ? "fp32 engine: nothing to protect" : $"precision protection off: pure {settings.Precision.Name()}";
            Report(progress, BuildPhase.ProtectPrecision, end: false, why);
            Report(progress, BuildPhase.ProtectPrecision, end: true, why);
            return engine;
        }
        try
        {
            var inputs = calibration ?? RandomCalibration(engine.Profile);
            string name = settings.Precision.Name();
            var reduced = settings.Precision.ActivationType();

            // With the kept nodes known, the engine is the one built (none) or one lowered with them.
            Engine Apply(IReadOnlyDictionary<string, string> keep, string why)
            {
                if (keep.Count == 0)
                {
                    Report(progress, BuildPhase.ProtectPrecision, end: true, $"pure {name}, {why}");
                    return engine;
                }
                engine.Dispose();
                // The rebuild's phases are reported as steps of this one, so the phase count stays a progress bar.
                var inner = progress is null ? null : new PhaseRelabel(progress, $"rebuilding with {keep.Count} node(s) in fp32");
                var compiled = Compile(optimized, new LoweringOptions { Activation = reduced, KeepFp32 = keep }, settings, log, inner);
                var rebuilt = CreateAndTune(compiled, settings, cache, modelHash, inner);
                Report(progress, BuildPhase.ProtectPrecision, end: true, $"kept {keep.Count} node(s) in fp32 ({string.Join(", ", keep.Keys)}), {why}");
                return rebuilt;
            }

            string? cacheKey = cache is null ? null : ProtectionCache.Key(engine.Header, optimized, settings.Precision, inputs);
            if (cacheKey is not null && cache!.TryGet(cacheKey, out var entry) && ProtectionCache.Decode(entry.TacticId) is { } decided)
                return Apply(decided, "the timing cache's decision for this model, precision, calibration and GPU");

            var calibrationSettings = CalibrationSettings(optimized, settings, inputs);
            Report(progress, BuildPhase.ProtectPrecision, end: false, $"comparing {name} with fp32 node by node on {inputs.Count} calibration run(s)");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            ProtectionResult result;
            try
            {
                var reference = RunObserved(optimized, new LoweringOptions { Fp16 = false }, calibrationSettings, engine.Header, inputs);
                result = PrecisionProtection.Search(optimized, PrecisionBudget.For(settings.Precision), reference,
                    keep => RunObserved(optimized, new LoweringOptions { Activation = reduced, KeepFp32 = keep }, calibrationSettings, engine.Header, inputs),
                    line => Report(progress, BuildPhase.ProtectPrecision, end: false, line));
            }
            catch (TrtNativeException e) when (e.Code is not ErrorCode.InvalidArgument)
            {
                // The calibration engines keep every node's output, so they need far more memory than the engine itself:
                // say what failed and the way out instead of the bare error of an engine the user never asked for.
                throw new TrtNativeException(e.Code, $"precision protection could not calibrate ({e.Message}); build with precision " +
                    $"protection off for a pure {name} engine, or give smaller calibration inputs", e);
            }
            if (cacheKey is not null) cache!.Set(cacheKey, ProtectionCache.Encode(result.KeepFp32), sw.Elapsed.TotalMilliseconds);
            string budget = result.WithinBudget ? "within budget" : "STILL OVER BUDGET (the kept nodes are the best found)";
            return Apply(result.KeepFp32, $"{budget}: {string.Join("; ", result.Outputs)}");
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs of calibration: two batches of standard-normal values (fixed seeds) at the profile's opt shapes, the first
    /// dim (the batch) capped at <see cref="CalibrationBatch"/> where the profile allows: an observed engine keeps every
    /// node output, so its memory grows with the batch.
    /// </summary>
    internal static IReadOnlyList<IReadOnlyDictionary<string, Tensor>> RandomCalibration(IReadOnlyDictionary<string, InputShapeRange> profile) =>
        Enumerable.Range(0, 2).Select(run =>
        {
            var rng = new Random(1000 + run);
            IReadOnlyDictionary<string, Tensor> set = profile.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv =>
            {
                var shape = (long[])kv.Value.Opt.Clone();
                if (shape.Length > 0) shape[0] = Math.Max(kv.Value.Min[0], Math.Min(shape[0], CalibrationBatch));
                return Tensor.FromFloats(RandomInputs.Normal(rng, (int)shape.Aggregate(1L, (a, d) => a * d)), shape);
            }, StringComparer.Ordinal);
            return set;
        }).ToList();

    /// <summary>Largest batch of the default calibration runs.</summary>
    internal const long CalibrationBatch = 8;

    /// <summary>
    /// The settings of the calibration engines: heuristic tactics, no protection, and a profile that spans exactly the
    /// calibration shapes (so their memory, with every node output kept, is sized for those and not for the profile's max).
    /// </summary>
    internal static BuildSettings CalibrationSettings(Graph optimized, BuildSettings settings, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> inputs)
    {
        if (inputs.Count == 0) throw new TrtNativeException(ErrorCode.InvalidArgument, "calibration needs at least one set of inputs");
        var names = optimized.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var profile = new Dictionary<string, InputShapeRange>(StringComparer.Ordinal);
        for (int k = 0; k < inputs.Count; k++)
        {
            foreach (var name in inputs[k].Keys.Where(n => !names.Contains(n)))
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"calibration set {k} names '{name}', which is not an input of the model ({string.Join(", ", names)})");
            foreach (var name in names)
            {
                if (!inputs[k].TryGetValue(name, out var t))
                    throw new TrtNativeException(ErrorCode.InvalidArgument, $"calibration set {k} has no tensor for input '{name}'");
                if (t.Floats is null)
                    throw new TrtNativeException(ErrorCode.InvalidArgument, $"calibration set {k}: input '{name}' must be a float tensor, got {t.Type.OnnxName()}");
                if (!profile.TryGetValue(name, out var r)) { profile[name] = new InputShapeRange(t.Shape, t.Shape, t.Shape); continue; }
                if (r.Min.Length != t.Shape.Length)
                    throw new TrtNativeException(ErrorCode.InvalidArgument, $"calibration set {k}: input '{name}' has rank {t.Shape.Length}, set 0 has {r.Min.Length}");
                var min = r.Min.Zip(t.Shape, Math.Min).ToArray();
                var max = r.Max.Zip(t.Shape, Math.Max).ToArray();
                profile[name] = new InputShapeRange(min, max, max);
            }
        }
        return new BuildSettings(Precision.Fp32, settings.MaxWorkspaceSize, autotune: false, profile, precisionProtection: false);
    }

    /// <summary>Lowers with every node output observed, builds an engine for the calibration shapes and runs each input set.</summary>
    private IReadOnlyList<IReadOnlyDictionary<string, Tensor>> RunObserved(Graph optimized, LoweringOptions options, BuildSettings calibrationSettings,
        PlanHeader header, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> inputs)
    {
        var compiled = Compile(optimized, options with { Observe = true }, calibrationSettings, new PassLog(), null);
        using var engine = new Engine(Context, compiled.Program, compiled.Profile, header, compiled.Memory);
        using var ctx = engine.CreateContext();
        return inputs.Select(x => (IReadOnlyDictionary<string, Tensor>)ctx.Run(x)).ToList();
    }

    /// <summary>Reports another phase's events as unfinished steps of <see cref="BuildPhase.ProtectPrecision"/>.</summary>
    private sealed class PhaseRelabel(IProgress<BuildProgress> to, string what) : IProgress<BuildProgress>
    {
        public void Report(BuildProgress value) =>
            to.Report(new BuildProgress(BuildPhase.ProtectPrecision, (int)BuildPhase.ProtectPrecision, value.Total, $"{what}: {value.Phase}: {value.Message}"));
    }

    private static void Report(IProgress<BuildProgress>? progress, BuildPhase phase, bool end, string message) =>
        progress?.Report(new BuildProgress(phase, (int)phase + (end ? 1 : 0), PhaseCount, message));

    internal static Dictionary<string, InputShapeRange> ResolveProfile(LayerProgram program, BuildSettings settings)
    {
        var given = settings.Profile;
        foreach (var name in given.Keys)
            if (program.Inputs.All(i => i.Name != name))
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"the optimization profile names '{name}', which is not an input of the model ({string.Join(", ", program.Inputs.Select(i => i.Name))})");
        var result = new Dictionary<string, InputShapeRange>(StringComparer.Ordinal);
        foreach (var input in program.Inputs)
        {
            if (given.TryGetValue(input.Name, out var r))
            {
                if (r.Min.Length != input.Shape.Length)
                    throw new TrtNativeException(ErrorCode.InvalidArgument, $"the profile for '{input.Name}' has rank {r.Min.Length}, the input is {input.Shape.Format()}");
                for (int d = 0; d < r.Min.Length; d++)
                    if (input.Shape[d].IsKnown && (r.Min[d] != input.Shape[d].Value || r.Max[d] != input.Shape[d].Value))
                        throw new TrtNativeException(ErrorCode.InvalidArgument, $"the profile for '{input.Name}' varies dimension {d}, which the model fixes at {input.Shape[d].Value}");
                result[input.Name] = r;
            }
            else if (input.Shape.IsKnown())
            {
                var s = input.Shape.Values();
                result[input.Name] = new InputShapeRange(s, s, s);
            }
            else
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"input '{input.Name}' has dynamic dims {input.Shape.Format()}: add an optimization profile with min/opt/max shapes for it");
        }
        return result;
    }

    /// <summary>What identifies a tunable layer's timing: kind, parameters (without tactic), tensor types and shapes under <paramref name="bindings"/>.</summary>
    private static string LayerSignature(LayerProgram p, ProgramLayer l, IReadOnlyDictionary<string, long> bindings)
    {
        var prm = l.WithTactic(-1);
        var parts = l.Inputs.Concat(l.Outputs).Select(id => id < 0 ? "_" : $"{p.Tensors[id].DType}[{string.Join(",", p.Tensors[id].Shape.Resolve(bindings))}]");
        return $"{l.Kind}:{Convert.ToHexString(prm)}:{string.Join(";", parts)}";
    }

    private static string HashProgram(LayerProgram p)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            var saved = p.Layers.Select(l => (l.Tactic, l.ShapeTactics)).ToArray();
            try
            {
                foreach (var l in p.Layers) { l.Tactic = -1; l.ShapeTactics = new(); }
                p.Write(w);
            }
            finally
            {
                for (int i = 0; i < saved.Length; i++) (p.Layers[i].Tactic, p.Layers[i].ShapeTactics) = saved[i];
            }
        }
        return Convert.ToHexString(SHA256.HashData(ms.ToArray())).ToLowerInvariant();
    }
}
