using System.Security.Cryptography;
using TrtNative.Compiler;
using TrtNative.Cuda;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;

namespace TrtNative.Runtime;

/// <summary>
/// Builds GPU engines from ONNX models: import, optimize (fold constants, fold BatchNorm, fuse conv/gemm
/// epilogues), lower to native layers, choose tactics by timing them on the GPU (or from the timing cache).
/// </summary>
public sealed class Builder
{
    /// <summary>A builder for the GPU of <paramref name="context"/>.</summary>
    public Builder(CudaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        Context = context;
    }

    /// <summary>The CUDA context engines are built in.</summary>
    public CudaContext Context { get; }

    /// <summary>Imports and builds <paramref name="onnxPath"/>; the plan header records <see cref="ModelHash.Compute"/> of the file.</summary>
    public Engine BuildFromOnnx(string onnxPath, BuilderConfig config, IProgress<string>? progress = null)
    {
        progress?.Report($"importing {onnxPath}");
        var graph = OnnxImporter.Load(onnxPath);
        return Build(graph, config, ModelHash.Compute(onnxPath), progress);
    }

    /// <summary>
    /// Builds <paramref name="graph"/> (it is optimized here; the input graph is not changed). <paramref name="modelHash"/>
    /// is recorded in the plan header; by default it is a hash of the lowered program, weights included.
    /// </summary>
    /// <exception cref="TrtNativeException">Unsupported (naming the node), InvalidArgument (profile), OutOfMemory, CudaError.</exception>
    public Engine Build(Graph graph, BuilderConfig config, string? modelHash = null, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(config);
        NativeLibraryLoader.EnsureLoaded();
        if (config.OptimizationProfiles.Count > 1)
            throw new TrtNativeException(ErrorCode.Unsupported, "one optimization profile per engine is supported");
        if (config.MaxWorkspaceSize < 0) throw new TrtNativeException(ErrorCode.InvalidArgument, "MaxWorkspaceSize must not be negative");

        var log = new PassLog();
        progress?.Report($"optimizing {graph.Nodes.Count} nodes");
        var optimized = Optimizer.Optimize(graph, log);
        progress?.Report($"optimized: {optimized.Nodes.Count} nodes ({log.Entries.Count} changes); lowering for {config.Precision}");
        var program = GpuLowering.Lower(optimized, config.Precision == Precision.Fp16);
        progress?.Report($"lowered: {program.Layers.Count} layers, {program.WeightBytes / 1048576.0:F1} MiB of weights");

        var profile = ResolveProfile(program, config);
        var gpu = GpuInfo.Query(Context.Device.Ordinal);
        var header = new PlanHeader
        {
            GpuName = gpu.Name,
            ComputeCapability = gpu.ComputeCapability,
            CudaDriverVersion = gpu.CudaDriverVersion,
            CudnnVersion = gpu.CudnnVersion,
            CublasLtVersion = gpu.CublasLtVersion,
            ModelHash = modelHash ?? HashProgram(program),
            Settings = config.Settings(),
        };

        // Tactics from the timing cache, when every tunable layer has one for this GPU and these shapes.
        var cache = config.TimingCache;
        var keys = new string?[program.Layers.Count];
        bool allCached = config.Autotune;
        var optBindings = new Dictionary<string, long>();
        if (config.Autotune)
        {
            using var probe = new EngineShapes(program, profile);
            optBindings = probe.Opt;
            for (int i = 0; i < program.Layers.Count; i++)
            {
                var l = program.Layers[i];
                if (!l.Tunable) continue;
                keys[i] = TimingCache.Key(LayerSignature(program, l, optBindings), gpu.Name, gpu.ComputeCapability, gpu.CudnnVersion, gpu.CublasLtVersion);
                if (cache is not null && cache.TryGet(keys[i]!, out var e) && int.TryParse(e.TacticId, out int t)) l.Tactic = t;
                else allCached = false;
            }
        }

        var engine = new Engine(Context, program, profile, header);
        if (!config.Autotune || allCached)
        {
            progress?.Report(config.Autotune ? "tactics: all from the timing cache" : "tactics: library heuristics (autotune off)");
            return engine;
        }
        try
        {
            progress?.Report($"autotuning {program.Layers.Count(l => l.Tunable)} layers at the opt shapes");
            using (var ctx = engine.CreateExecutionContext())
            {
                foreach (var (name, r) in profile) ctx.SetInputShape(name, r.Opt);
                ctx.FillInputsRandom(seed: 1);
                var (tactics, times) = ctx.Autotune(config.MaxWorkspaceSize);
                for (int i = 0; i < program.Layers.Count; i++)
                {
                    if (!program.Layers[i].Tunable) continue;
                    program.Layers[i].Tactic = tactics[i];
                    if (cache is not null && keys[i] is { } k) cache.Set(k, tactics[i].ToString(), times[i]);
                }
            }
            progress?.Report("autotuned");
            // Rebuild the native engine so its layer list carries the tactics exactly as a loaded plan would.
            var tuned = new Engine(Context, program, profile, header);
            engine.Dispose();
            return tuned;
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    private static Dictionary<string, InputShapeRange> ResolveProfile(LayerProgram program, BuilderConfig config)
    {
        var given = config.OptimizationProfiles.Count == 1 ? config.OptimizationProfiles[0].Ranges : new Dictionary<string, InputShapeRange>();
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

    /// <summary>What identifies a tunable layer's timing: kind, parameters (without tactic), tensor types and opt shapes.</summary>
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
            var saved = p.Layers.Select(l => l.Tactic).ToArray();
            foreach (var l in p.Layers) l.Tactic = -1;
            p.Write(w);
            for (int i = 0; i < saved.Length; i++) p.Layers[i].Tactic = saved[i];
        }
        return Convert.ToHexString(SHA256.HashData(ms.ToArray())).ToLowerInvariant();
    }

    /// <summary>Symbol bindings at the profile's opt shapes, computed the way an engine does.</summary>
    private sealed class EngineShapes : IDisposable
    {
        public EngineShapes(LayerProgram program, IReadOnlyDictionary<string, InputShapeRange> profile)
        {
            Opt = new Dictionary<string, long>();
            foreach (var input in program.Inputs)
            {
                var s = profile[input.Name].Opt;
                for (int d = 0; d < s.Length; d++)
                    if (!input.Shape[d].IsKnown) Opt[input.Shape[d].Symbol!] = s[d] / input.Shape[d].Factor;
            }
        }
        public Dictionary<string, long> Opt { get; }
        public void Dispose() { }
    }
}
