using System.Runtime.InteropServices;
using TrtNative.Compiler;
using TrtNative.Cuda;
using TrtNative.Interop;
using TrtNative.Ir;

namespace TrtNative.Runtime;

/// <summary>How a context currently launches its layers.</summary>
public enum GraphState
{
    /// <summary>Not captured yet (the first run after a shape or address change is plain).</summary>
    NotCaptured = 0,
    /// <summary>Replaying a CUDA graph of the whole enqueue.</summary>
    Replaying = 1,
    /// <summary>Capture failed (or is impossible on this stream): plain launches.</summary>
    CaptureFailed = 2,
}

/// <summary>
/// One layer's time from <see cref="EngineContext.ProfileLayers"/>: its name, kind (Conv, Gemm, Copy, ...), first
/// output's shape, GPU milliseconds, and what ran (e.g. "cudnn graph+epilogue eng12_k2=1", "cublasLt heuristic 0").
/// </summary>
public sealed record LayerTiming(string Name, string Kind, long[] OutputShape, float Milliseconds, string Implementation);

/// <summary>
/// Runs an engine: owns the activation memory (an arena sized for the profile's largest shapes) and the layers'
/// scratch space. Set the input shapes, then <see cref="EnqueueAsync"/> on a stream (after filling the inputs at
/// <see cref="GetTensorAddress"/>), or use <see cref="Run"/> with host arrays. Not thread-safe: one run at a time.
/// The first run at new shapes is launched layer by layer; later runs replay a captured CUDA graph.
/// It keeps its engine's native resources (layers, weights, CUDA context) alive, so it keeps working after
/// <see cref="Runtime.Engine.Dispose"/>; after its own <see cref="Dispose"/> every member but <see cref="Engine"/>
/// throws <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed class EngineContext : IDisposable
{
    private int _disposed;
    private readonly Engine _engine;
    private readonly NativeContextHandle _handle;
    private readonly DeviceBuffer<byte> _arena;
    private DeviceBuffer<byte>? _workspace;
    private readonly nint[] _addresses;
    private readonly Dictionary<string, long[]> _inputShapes = new(StringComparer.Ordinal);
    private Dictionary<string, long>? _bindings;
    private bool _shapesApplied;
    private CudaStream? _stream;

    internal EngineContext(Engine engine)
    {
        _engine = engine;
        engine.Context.MakeCurrent();
        _arena = DeviceBuffer<byte>.Allocate(engine.Context, engine.Memory.ArenaBytes);
        try
        {
            _handle = NativeContextHandle.Create(engine.Handle, _arena.Handle);
            var p = engine.Program;
            _addresses = new nint[p.Tensors.Count];
            for (int i = 0; i < _addresses.Length; i++)
                _addresses[i] = (engine.Memory.InWeights[i] ? engine.WeightsPointer : _arena.DevicePointer) + (nint)engine.Memory.Offsets[i];
            ApplyAddresses();
        }
        catch
        {
            _handle?.Release();
            _arena.Dispose();
            throw;
        }
    }

    /// <summary>The engine this context runs.</summary>
    public Engine Engine => _engine;

    /// <summary>
    /// Device memory held for the layers' scratch space, in bytes: the most any shape set up so far needed (it grows
    /// with new shapes and is never shrunk). The activation arena is <see cref="Runtime.Engine.ActivationBytes"/>.
    /// </summary>
    public long WorkspaceBytes => _workspace?.SizeInBytes ?? 0;

    /// <summary>
    /// Sets the shape of input <paramref name="name"/> for the next runs. Throws <see cref="ErrorCode.ShapeMismatch"/>
    /// naming the dimension when the shape is outside the engine's optimization profile.
    /// </summary>
    public void SetInputShape(string name, long[] shape)
    {
        ThrowIfDisposed();
        var d = _engine.Inputs.FirstOrDefault(i => i.Name == name)
            ?? throw new TrtNativeException(ErrorCode.InvalidArgument, $"the engine has no input '{name}'; inputs: {string.Join(", ", _engine.Inputs.Select(i => i.Name))}");
        if (shape.Length != d.MinShape.Length)
            throw new TrtNativeException(ErrorCode.ShapeMismatch, $"input '{name}' has rank {d.MinShape.Length} {d.Shape.Format()}, got [{string.Join(",", shape)}]");
        for (int k = 0; k < shape.Length; k++)
            if (shape[k] < d.MinShape[k] || shape[k] > d.MaxShape[k])
                throw new TrtNativeException(ErrorCode.ShapeMismatch,
                    $"input '{name}' shape [{string.Join(",", shape)}] is outside the engine's optimization profile: dimension {k} is {shape[k]}, allowed {d.MinShape[k]}..{d.MaxShape[k]} (profile [{string.Join(",", d.MinShape)}]..[{string.Join(",", d.MaxShape)}]); rebuild with a wider profile");
        if (_inputShapes.TryGetValue(name, out var old) && old.AsSpan().SequenceEqual(shape)) return;
        _inputShapes[name] = (long[])shape.Clone();
        _shapesApplied = false;
    }

    /// <summary>The shape of output <paramref name="name"/> for the current input shapes.</summary>
    public long[] GetOutputShape(string name)
    {
        ThrowIfDisposed();
        EnsureShapes();
        var b = _engine.Program.Outputs.FirstOrDefault(o => o.Name == name)
            ?? throw new TrtNativeException(ErrorCode.InvalidArgument, $"the engine has no output '{name}'");
        return b.Shape.Resolve(_bindings);
    }

    /// <summary>
    /// Device address of input or output <paramref name="name"/> (float32, contiguous, logical shape). Device memory
    /// owned by this context: valid until <see cref="Dispose"/> or until <see cref="SetTensorAddress"/> replaces it.
    /// </summary>
    public nint GetTensorAddress(string name)
    {
        ThrowIfDisposed();
        return _addresses[Binding(name).TensorId];
    }

    /// <summary>
    /// Binds caller-owned device memory (float32, contiguous, at least the profile's largest size) to input or output
    /// <paramref name="name"/>. The memory must stay valid while runs use it.
    /// </summary>
    public void SetTensorAddress(string name, nint deviceAddress)
    {
        ThrowIfDisposed();
        if (deviceAddress == 0) throw new TrtNativeException(ErrorCode.InvalidArgument, $"null device address for '{name}'");
        int id = Binding(name).TensorId;
        var p = _engine.Program;
        for (int i = 0; i < _addresses.Length; i++)
            if (i == id || p.Tensors[i].AliasOf == id) _addresses[i] = deviceAddress;
        ApplyAddresses();
    }

    /// <summary>Queues one run of the engine on <paramref name="stream"/> (inputs must be in place; outputs are ready once the stream reaches this point).</summary>
    public void EnqueueAsync(CudaStream stream)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(stream);
        EnsureShapes();
        _engine.Context.MakeCurrent();
        NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_enqueue(_handle, stream.Handle));
    }

    /// <summary>
    /// Runs every layer once on <paramref name="stream"/> with plain launches (never the CUDA graph), on whatever the
    /// inputs hold, and returns each layer's GPU time in engine order, measured with a CUDA event after every layer
    /// (TensorRT's IProfiler). For finding hot spots: each time includes the layer's launch, so the sum is above a
    /// graph replay's time. Synchronous.
    /// </summary>
    public unsafe IReadOnlyList<LayerTiming> ProfileLayers(CudaStream stream)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(stream);
        EnsureShapes();
        _engine.Context.MakeCurrent();
        var layers = _engine.Program.Layers;
        var times = new float[layers.Count];
        fixed (float* t = times)
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_profile(_handle, stream.Handle, t, times.Length));
        return layers.Select((l, i) => new LayerTiming(l.Name, l.Kind.ToString(),
            _engine.Program.Tensors[l.Outputs[0]].Shape.Resolve(_bindings), times[i], LayerImplementation(i))).ToArray();
    }

    /// <summary>What layer <paramref name="layer"/> runs at the current shapes (the tactic as the shim resolved it).</summary>
    public unsafe string LayerImplementation(int layer)
    {
        ThrowIfDisposed();
        EnsureShapes();
        Span<byte> buffer = stackalloc byte[256];
        fixed (byte* b = buffer)
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_layer_implementation(_handle, layer, b, (ulong)buffer.Length));
        int n = buffer.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(buffer[..(n < 0 ? buffer.Length : n)]);
    }

    /// <summary>Enables (default) or disables capturing the enqueue into a CUDA graph.</summary>
    public void SetGraphCapture(bool enabled)
    {
        ThrowIfDisposed();
        NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_set_graph_capture(_handle, enabled ? 1 : 0));
    }

    /// <summary>Whether runs replay a CUDA graph.</summary>
    public unsafe GraphState GraphState
    {
        get
        {
            ThrowIfDisposed();
            ContextInfo info;
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_get_info(_handle, &info));
            return (GraphState)info.GraphState;
        }
    }

    /// <summary>
    /// Runs once on host data: sets each input's shape, copies the inputs to the GPU, runs, waits and returns every
    /// output (float32, logical shape) by name. Host arrays are only read during the call.
    /// </summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(inputs);
        foreach (var d in _engine.Inputs)
        {
            if (!inputs.TryGetValue(d.Name, out var t))
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"no value given for input '{d.Name}' {d.Shape.Format()}");
            if (t.Floats is null) throw new TrtNativeException(ErrorCode.InvalidArgument, $"input '{d.Name}' must be a float tensor, got {t.Type.OnnxName()}");
            SetInputShape(d.Name, t.Shape);
        }
        EnsureShapes();
        _engine.Context.MakeCurrent();
        _stream ??= CudaStream.Create(_engine.Context);
        foreach (var d in _engine.Inputs) CopyIn(GetTensorAddress(d.Name), inputs[d.Name].Floats!);
        EnqueueAsync(_stream);
        _stream.Synchronize();
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var o in _engine.Program.Outputs)
        {
            var shape = o.Shape.Resolve(_bindings);
            var data = new float[shape.ElementCount()];
            CopyOut(_addresses[o.TensorId], data);
            result[o.Name] = Tensor.FromFloats(data, shape);
        }
        return result;
    }

    /// <summary>Times every tunable layer's candidates at the current shapes and stores the fastest in the engine (used by the builder).</summary>
    internal unsafe (int[] Tactics, float[] Milliseconds) Autotune(long workspaceBytes)
    {
        ThrowIfDisposed();
        EnsureShapes();
        EnsureWorkspace((ulong)workspaceBytes);
        _engine.Context.MakeCurrent();
        _stream ??= CudaStream.Create(_engine.Context);
        int n = _engine.Program.Layers.Count;
        var tactics = new int[n];
        var times = new float[n];
        fixed (int* t = tactics)
        fixed (float* ms = times)
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_autotune(_handle, _stream.Handle, t, ms, n));
        _shapesApplied = false; // workspace needs may have changed with the tactics
        return (tactics, times);
    }

    /// <summary>Fills every input (at the current shapes) with uniform random values in [-1, 1) drawn from <paramref name="seed"/>, for autotuning and benchmarks. Synchronous.</summary>
    public void FillInputsRandom(int seed)
    {
        ThrowIfDisposed();
        EnsureShapes();
        var rng = new Random(seed);
        foreach (var b in _engine.Program.Inputs)
        {
            var data = new float[b.Shape.Resolve(_bindings).ElementCount()];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
            CopyIn(_addresses[b.TensorId], data);
        }
        _stream!.Synchronize(); // callers may enqueue on another stream next
    }

    private ProgramBinding Binding(string name) =>
        _engine.Program.Inputs.Concat(_engine.Program.Outputs).FirstOrDefault(b => b.Name == name)
        ?? throw new TrtNativeException(ErrorCode.InvalidArgument, $"the engine has no input or output '{name}'");

    private unsafe void ApplyAddresses()
    {
        _engine.Context.MakeCurrent();
        fixed (nint* a = _addresses)
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_set_tensor_addresses(_handle, a, _addresses.Length));
    }

    private unsafe void EnsureShapes()
    {
        if (_shapesApplied) return;
        var shapes = new Dictionary<string, long[]>(_inputShapes);
        foreach (var d in _engine.Inputs)
            if (!shapes.ContainsKey(d.Name))
            {
                if (d.MinShape.AsSpan().SequenceEqual(d.MaxShape)) shapes[d.Name] = d.MinShape;
                else throw new TrtNativeException(ErrorCode.InvalidArgument, $"input '{d.Name}' {d.Shape.Format()} has dynamic dims: call SetInputShape first");
            }
        var bindings = _engine.BindSymbols(shapes, "input shapes");
        var dims = new List<long>();
        foreach (var t in _engine.Program.Tensors) dims.AddRange(t.Shape.Resolve(bindings));
        var arr = dims.ToArray();
        ulong ws;
        _engine.Context.MakeCurrent();
        fixed (long* p = arr)
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_set_shapes(_handle, p, arr.Length, &ws));
        EnsureWorkspace(ws);
        _bindings = bindings;
        _shapesApplied = true;
    }

    private void EnsureWorkspace(ulong bytes)
    {
        if (_workspace is not null && (ulong)_workspace.SizeInBytes >= bytes) return;
        _workspace?.Dispose();
        _workspace = null;
        if (bytes > 0) _workspace = DeviceBuffer<byte>.Allocate(_engine.Context, (long)bytes);
        NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_set_workspace(_handle, _workspace?.DevicePointer ?? 0, (ulong)(_workspace?.SizeInBytes ?? 0)));
    }

    // Copies go on the context's own stream: a plain cuMemcpyHtoD runs on the legacy stream, which does not order
    // with our non-blocking stream, and from pageable memory it may return before the data has landed — the first
    // layer could then read the input before it arrives. From pageable memory the async call stages the data
    // before returning, so the host array may be released right after.
    private unsafe void CopyIn(nint device, float[] data)
    {
        _stream ??= CudaStream.Create(_engine.Context);
        fixed (float* p = data)
            CudaDriverCopy.HostToDevice(device, p, (nuint)(data.Length * sizeof(float)), _stream);
    }

    private unsafe void CopyOut(nint device, float[] data)
    {
        _stream ??= CudaStream.Create(_engine.Context);
        fixed (float* p = data)
            CudaDriverCopy.DeviceToHost(p, device, (nuint)(data.Length * sizeof(float)), _stream);
        _stream.Synchronize();
    }

    /// <summary>True once <see cref="Dispose"/> ran.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(IsDisposed, this);

    /// <summary>
    /// Frees the native context, the activation memory and the workspace, and lets go of the engine (whose native
    /// resources are freed here when the engine was disposed and this was its last context). Work queued on a
    /// stream must have finished. Idempotent; never throws.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stream?.Dispose();
        _handle.Release();
        _workspace?.Dispose();
        _arena.Dispose();
    }
}

/// <summary>Stream-ordered copies by raw device address (the driver bindings are internal to this assembly).</summary>
internal static unsafe class CudaDriverCopy
{
    public static void HostToDevice(nint dst, void* src, nuint bytes, CudaStream stream) =>
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync_v2((ulong)dst, src, bytes, stream.Enter()), "cuMemcpyHtoDAsync_v2");

    public static void DeviceToHost(void* dst, nint src, nuint bytes, CudaStream stream) =>
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync_v2(dst, (ulong)src, bytes, stream.Enter()), "cuMemcpyDtoHAsync_v2");
}
