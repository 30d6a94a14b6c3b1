using System.Runtime.InteropServices;
using TrtNative.Compiler;
using TrtNative.Cuda;
using TrtNative.Interop;
using TrtNative.Ir;

namespace TrtNative.Runtime;

/// <summary>An engine input or output: name, element type (always float32 at the boundary), shape with symbolic dims, allowed range.</summary>
public sealed record TensorDescription(string Name, DataType Type, Dim[] Shape, long[] MinShape, long[] MaxShape)
{
    /// <summary>"input: float32[batch,3,224,224] in [1,3,224,224]..[32,3,224,224]".</summary>
    public override string ToString() => $"{Name}: {Type.OnnxName()}{Shape.Format()} in [{string.Join(",", MinShape)}]..[{string.Join(",", MaxShape)}]";
}

/// <summary>The GPU and libraries an engine runs with, as the shim reports them.</summary>
public sealed record GpuInfo(string Name, ComputeCapability ComputeCapability, int Multiprocessors, int CudaRuntimeVersion,
    int CudaDriverVersion, int CudnnVersion, int CublasLtVersion, long TotalMemory)
{
    /// <summary>Reads the description of device <paramref name="ordinal"/> through the shim.</summary>
    public static unsafe GpuInfo Query(int ordinal = 0)
    {
        NativeLibraryLoader.EnsureLoaded();
        DeviceInfo d;
        NativeStatus.ThrowIfFailed(NativeMethods.trtn_device_get_info(ordinal, &d));
        string name = Marshal.PtrToStringUTF8((nint)d.Name) ?? "?";
        return new GpuInfo(name, new ComputeCapability(d.CcMajor, d.CcMinor), d.Multiprocessors, d.CudaRuntimeVersion,
            d.CudaDriverVersion, d.CudnnVersion, d.CublasltVersion, (long)d.TotalMemory);
    }

    /// <summary>"NVIDIA H100 80GB HBM3, sm_90, CUDA 13000, cuDNN 91400, cuBLASLt 130100".</summary>
    public override string ToString() =>
        $"{Name}, sm_{ComputeCapability.Sm}, {Multiprocessors} SMs, CUDA runtime {CudaRuntimeVersion}, driver {CudaDriverVersion}, cuDNN {CudnnVersion}, cuBLASLt {CublasLtVersion}";
}

/// <summary>
/// A built engine: the lowered layer program, its weights on the GPU and the native layer list. Create execution
/// contexts from it; serialize it to a plan and load the plan later without rebuilding (no autotuning then).
/// Engine, contexts and <see cref="CudaContext"/> may be disposed in any order: each execution context keeps the
/// native engine, the weights and the CUDA context alive, so they are freed when the engine and its last context
/// are both disposed. A context whose engine was disposed keeps working; the engine's
/// <see cref="CreateContext"/>, <see cref="Serialize"/> and <see cref="Save"/> then throw
/// <see cref="ObjectDisposedException"/> (its description — inputs, outputs, header — stays readable).
/// </summary>
public sealed class Engine : IDisposable
{
    private readonly NativeEngineHandle _handle;
    private readonly DeviceBuffer<byte> _weights;
    private int _disposed;

    /// <summary>Creates the native engine for <paramref name="program"/> in <paramref name="context"/> and uploads its weights.</summary>
    /// <param name="context">The CUDA context the engine lives in.</param>
    /// <param name="program">The lowered program, tactics set.</param>
    /// <param name="profile">Shape ranges of every input.</param>
    /// <param name="header">What the engine was built for (GPU, libraries, model, build options).</param>
    /// <param name="memory">The memory plan at the profile's max, when the builder made it already.</param>
    internal Engine(CudaContext context, LayerProgram program, IReadOnlyDictionary<string, InputShapeRange> profile, PlanHeader header,
        MemoryPlan? memory = null)
    {
        Context = context;
        Program = program;
        Profile = profile;
        Header = header;
        NativeLibraryLoader.EnsureLoaded();
        context.MakeCurrent();
        MaxBindings = BindSymbols(profile.ToDictionary(kv => kv.Key, kv => kv.Value.Max), "profile max");
        OptBindings = BindSymbols(profile.ToDictionary(kv => kv.Key, kv => kv.Value.Opt), "profile opt");
        Memory = memory ?? MemoryPlan.Create(program, MaxBindings);
        _weights = DeviceBuffer<byte>.Allocate(context, Memory.WeightBytes);
        try
        {
            foreach (var t in program.Tensors)
                if (t.AliasOf < 0 && t.Data is { Length: > 0 } data) _weights.CopyFrom(data, Memory.Offsets[t.Id]);
            _handle = CreateNative(context);
        }
        catch
        {
            _weights.Dispose();
            throw;
        }
        Inputs = program.Inputs.Select(b => Describe(b, profile)).ToArray();
        Outputs = program.Outputs.Select(b => new TensorDescription(b.Name, DataType.Float, b.Shape,
            b.Shape.Resolve(BindSymbols(profile.ToDictionary(kv => kv.Key, kv => kv.Value.Min), "profile min")), b.Shape.Resolve(MaxBindings))).ToArray();
    }

    /// <summary>The CUDA context the engine's memory lives in.</summary>
    public CudaContext Context { get; }

    /// <summary>Inputs with their shape ranges.</summary>
    public IReadOnlyList<TensorDescription> Inputs { get; }

    /// <summary>Outputs with their shape ranges.</summary>
    public IReadOnlyList<TensorDescription> Outputs { get; }

    /// <summary>What the engine was built for (GPU, libraries, model hash, builder config).</summary>
    public PlanHeader Header { get; }

    /// <summary>Number of native layers.</summary>
    public int LayerCount => Program.Layers.Count;

    /// <summary>Device memory held for weights, in bytes.</summary>
    public long WeightBytes => Memory.WeightBytes;

    /// <summary>Activation arena of one execution context, in bytes (sized for the profile's largest shapes).</summary>
    public long ActivationBytes => Memory.ArenaBytes;

    /// <summary>The layer list, one line per layer (for logs).</summary>
    public string Describe() => Program.Dump();

    /// <summary>
    /// The nodes of an fp16 engine that run in fp32 and why (automatic mixed precision,
    /// <see cref="BuilderConfig.PrecisionProtection"/>); empty for a pure fp16 or an fp32 engine. Read from the plan.
    /// </summary>
    public IReadOnlyList<PrecisionChoice> KeptInFp32 => Program.KeptFp32;

    internal LayerProgram Program { get; }
    internal IReadOnlyDictionary<string, InputShapeRange> Profile { get; }
    internal MemoryPlan Memory { get; }
    internal Dictionary<string, long> MaxBindings { get; }
    internal Dictionary<string, long> OptBindings { get; }
    internal NativeEngineHandle Handle => _handle;
    internal nint WeightsPointer => _weights.DevicePointer;

    /// <summary>True once <see cref="Dispose"/> ran (contexts created before may still be running it).</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>
    /// Creates a context that runs this engine (it owns its own activation memory and keeps the engine's native
    /// resources alive until it is disposed).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The engine was disposed.</exception>
    public EngineContext CreateContext()
    {
        ThrowIfDisposed();
        return new(this);
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    private unsafe NativeEngineHandle CreateNative(CudaContext context)
    {
        var h = NativeEngineHandle.Create(context.Handle, context.Device.Ordinal, _weights.Handle);
        try
        {
            foreach (var t in Program.Tensors)
            {
                int id;
                NativeStatus.ThrowIfFailed(NativeMethods.trtn_engine_add_tensor(h, (int)t.DType, t.Shape.Length, &id));
                if (id != t.Id) throw new TrtNativeException(ErrorCode.Internal, $"tensor '{t.Name}' got native id {id}, expected {t.Id}");
            }
            for (int i = 0; i < Program.Layers.Count; i++)
            {
                var l = Program.Layers[i];
                var prm = l.ParamsWithTactic();
                fixed (byte* pp = prm)
                fixed (int* ins = l.Inputs)
                fixed (int* outs = l.Outputs)
                    NativeStatus.ThrowIfFailed(NativeMethods.trtn_engine_add_layer(h, l.Name, (int)l.Kind, pp, (ulong)prm.Length, ins, l.Inputs.Length, outs, l.Outputs.Length));
                if (l.ShapeTactics.Count == 0) continue;
                var elements = l.ShapeTactics.Select(t => t.OutputElements).ToArray();
                var tactics = l.ShapeTactics.Select(t => t.Tactic).ToArray();
                fixed (long* pe = elements)
                fixed (int* pt = tactics)
                    NativeStatus.ThrowIfFailed(NativeMethods.trtn_engine_set_layer_tactics(h, i, pe, pt, tactics.Length));
            }
            var opts = new BuildOptions
            {
                Fp16 = Program.Reduced ? 1 : 0, ReducedType = Program.Reduced ? (int)Program.ActivationType : 0, MaxWorkspaceBytes = (ulong)WorkspaceLimit,
                OptimizationLevel = Header.Settings.OptimizationLevel,
            };
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_engine_build(h, &opts));
            return h;
        }
        catch
        {
            h.Release();
            throw;
        }
    }

    internal long WorkspaceLimit => Header.Settings.MaxWorkspaceSize;

    /// <summary>Symbol values from concrete input shapes; throws when inputs disagree or a shape has the wrong rank.</summary>
    internal Dictionary<string, long> BindSymbols(IReadOnlyDictionary<string, long[]> shapes, string what) => BindSymbols(Program, shapes, what);

    /// <summary>Symbol values of <paramref name="program"/>'s inputs from concrete shapes; see the instance overload.</summary>
    internal static Dictionary<string, long> BindSymbols(LayerProgram program, IReadOnlyDictionary<string, long[]> shapes, string what)
    {
        var b = new Dictionary<string, long>();
        foreach (var input in program.Inputs)
        {
            if (!shapes.TryGetValue(input.Name, out var s))
            {
                if (input.Shape.IsKnown()) s = input.Shape.Values();
                else throw new TrtNativeException(ErrorCode.InvalidArgument, $"input '{input.Name}' {input.Shape.Format()} has dynamic dims: the {what} needs its shape");
            }
            if (s.Length != input.Shape.Length)
                throw new TrtNativeException(ErrorCode.ShapeMismatch, $"input '{input.Name}' has rank {input.Shape.Length} {input.Shape.Format()}, the {what} gives [{string.Join(",", s)}]");
            for (int d = 0; d < s.Length; d++)
            {
                var want = input.Shape[d];
                if (want.IsKnown)
                {
                    if (want.Value != s[d])
                        throw new TrtNativeException(ErrorCode.ShapeMismatch, $"input '{input.Name}' dimension {d} is fixed at {want.Value}, the {what} gives {s[d]}");
                }
                else
                {
                    if (s[d] % want.Factor != 0)
                        throw new TrtNativeException(ErrorCode.ShapeMismatch, $"input '{input.Name}' dimension {d} ({want}) must be a multiple of {want.Factor}, got {s[d]}");
                    long v = s[d] / want.Factor;
                    if (b.TryGetValue(want.Symbol!, out var prev) && prev != v)
                        throw new TrtNativeException(ErrorCode.ShapeMismatch, $"dimension '{want.Symbol}' is {prev} in one input and {v} in '{input.Name}' ({what})");
                    b[want.Symbol!] = v;
                }
            }
        }
        return b;
    }

    private TensorDescription Describe(ProgramBinding b, IReadOnlyDictionary<string, InputShapeRange> profile)
    {
        if (profile.TryGetValue(b.Name, out var r)) return new TensorDescription(b.Name, DataType.Float, b.Shape, r.Min, r.Max);
        var fixedShape = b.Shape.Values();
        return new TensorDescription(b.Name, DataType.Float, b.Shape, fixedShape, fixedShape);
    }

    /// <summary>The plan bytes (header, payload, checksum) — what <see cref="Save"/> writes.</summary>
    /// <exception cref="ObjectDisposedException">The engine was disposed.</exception>
    public byte[] Serialize()
    {
        ThrowIfDisposed();
        string tmp = Path.Combine(Path.GetTempPath(), $"trtn-{Environment.ProcessId}-{Guid.NewGuid():N}.plan");
        try
        {
            Save(tmp);
            return File.ReadAllBytes(tmp);
        }
        finally
        {
            try { File.Delete(tmp); } catch (IOException) { }
        }
    }

    /// <summary>Writes the plan to <paramref name="path"/> atomically.</summary>
    /// <exception cref="ObjectDisposedException">The engine was disposed.</exception>
    public void Save(string path)
    {
        ThrowIfDisposed();
        PlanFile.Write(path, Header, Payload());
    }

    internal byte[] Payload()
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            Program.Write(w);
            w.Write(Profile.Count);
            foreach (var (name, r) in Profile.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                w.Write(name);
                WriteLongs(w, r.Min);
                WriteLongs(w, r.Opt);
                WriteLongs(w, r.Max);
            }
        }
        return ms.ToArray();
    }

    /// <summary>Loads a plan from bytes. Throws <see cref="ErrorCode.StalePlan"/> when it was built for another GPU, library
    /// version, model (<paramref name="expectedModelHash"/>, when given) or builder configuration
    /// (<paramref name="expectedConfig"/>, when given), <see cref="ErrorCode.CorruptPlan"/> when damaged.</summary>
    public static Engine Deserialize(CudaContext context, byte[] plan, string? expectedModelHash = null, BuilderConfig? expectedConfig = null) =>
        FromPlan(context, PlanFile.Read(plan, Expectations(context, expectedModelHash, expectedConfig)));

    /// <summary>Loads a plan file; see <see cref="Deserialize"/> for the errors.</summary>
    public static Engine Load(CudaContext context, string path, string? expectedModelHash = null, BuilderConfig? expectedConfig = null) =>
        FromPlan(context, PlanFile.Read(path, Expectations(context, expectedModelHash, expectedConfig)));

    private static PlanExpectations Expectations(CudaContext context, string? modelHash, BuilderConfig? config)
    {
        ArgumentNullException.ThrowIfNull(context);
        var gpu = GpuInfo.Query(context.Device.Ordinal);
        return new PlanExpectations
        {
            GpuName = gpu.Name, ComputeCapability = gpu.ComputeCapability, CudnnVersion = gpu.CudnnVersion,
            CublasLtVersion = gpu.CublasLtVersion, ModelHash = modelHash, Settings = config?.Settings(),
        };
    }

    /// <summary>What the plan file at <paramref name="path"/> holds, read and verified without a GPU (`inspect --engine`).</summary>
    /// <exception cref="TrtNativeException">CorruptPlan when damaged, StalePlan for another format version.</exception>
    public static PlanInfo Inspect(string path)
    {
        var (header, payload) = PlanFile.Read(path);
        var p = ReadPayload(payload).Program;
        return new PlanInfo(header, p.Layers.Count, p.WeightBytes, p.Inputs.Select(b => (b.Name, b.Shape)).ToArray(),
            p.Outputs.Select(b => (b.Name, b.Shape)).ToArray(), p.KeptFp32.ToArray());
    }

    /// <summary>The layer program and profile of a plan payload (<see cref="Payload"/>), read without a GPU.</summary>
    /// <exception cref="TrtNativeException">CorruptPlan when it cannot be decoded, StalePlan for another payload version.</exception>
    internal static (LayerProgram Program, Dictionary<string, InputShapeRange> Profile) ReadPayload(byte[] payload)
    {
        try
        {
            using var r = new BinaryReader(new MemoryStream(payload));
            var program = LayerProgram.Read(r);
            var profile = new Dictionary<string, InputShapeRange>();
            int n = LayerProgram.ReadCount(r, 13, "profile count");
            for (int i = 0; i < n; i++)
            {
                string name = r.ReadString();
                profile[name] = new InputShapeRange(ReadLongs(r), ReadLongs(r), ReadLongs(r));
            }
            return (program, profile);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException or FormatException or OverflowException)
        {
            throw new TrtNativeException(ErrorCode.CorruptPlan, $"the plan payload cannot be decoded: {e.Message}", e);
        }
    }

    private static Engine FromPlan(CudaContext context, (PlanHeader Header, byte[] Payload) plan)
    {
        var (program, profile) = ReadPayload(plan.Payload);
        return new Engine(context, program, profile, plan.Header);
    }

    private static void WriteLongs(BinaryWriter w, long[] v)
    {
        w.Write(v.Length);
        foreach (var x in v) w.Write(x);
    }

    private static long[] ReadLongs(BinaryReader r)
    {
        var v = new long[LayerProgram.ReadCount(r, 8, "profile shape rank")];
        for (int i = 0; i < v.Length; i++) v[i] = r.ReadInt64();
        return v;
    }

    /// <summary>
    /// Gives up the engine's native engine and weights: they are freed now, or when its last execution context is
    /// disposed. Idempotent; never throws.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Each only drops this owner's reference: the native engine holds the weights, every context the engine.
        _handle.Release();
        _weights.Dispose();
    }
}

/// <summary>What a plan file holds, read without a GPU (<see cref="Engine.Inspect"/>).</summary>
/// <param name="Header">What it was built for and with.</param>
/// <param name="LayerCount">Native layers.</param>
/// <param name="WeightBytes">Bytes of weights.</param>
/// <param name="Inputs">Engine inputs (float32, logical shapes).</param>
/// <param name="Outputs">Engine outputs (float32, logical shapes).</param>
/// <param name="KeptInFp32">Nodes of an fp16 engine kept in fp32 and why (<see cref="Engine.KeptInFp32"/>).</param>
public sealed record PlanInfo(PlanHeader Header, int LayerCount, long WeightBytes, IReadOnlyList<(string Name, Dim[] Shape)> Inputs,
    IReadOnlyList<(string Name, Dim[] Shape)> Outputs, IReadOnlyList<PrecisionChoice> KeptInFp32);
