namespace TrtNative.Cuda;

/// <summary>
/// The primary context of a device, retained (cuDevicePrimaryCtxRetain). It is the same context the CUDA runtime
/// API uses, so cuDNN, cuBLASLt and the native shim share memory and streams with it. Buffers, streams and events
/// created from it keep it alive until they are disposed; <see cref="Dispose"/> releases this retain. Operations
/// make the context current on the calling thread themselves, so any thread may use its objects.
/// </summary>
public sealed unsafe class CudaContext : IDisposable
{
    private readonly ContextHandle _handle;

    private CudaContext(CudaDevice device, ContextHandle handle)
    {
        Device = device;
        _handle = handle;
    }

    /// <summary>Retains the primary context of device <paramref name="ordinal"/> and makes it current on this thread.</summary>
    /// <exception cref="TrtNativeException">NoDevice without CUDA; CudaError if the retain fails.</exception>
    public static CudaContext Create(int ordinal = 0) => Create(CudaDevice.Get(ordinal));

    /// <summary>Retains the primary context of <paramref name="device"/> and makes it current on this thread.</summary>
    public static CudaContext Create(CudaDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        var handle = new ContextHandle(device.Handle);
        nint ctx;
        var r = CudaDriver.cuDevicePrimaryCtxRetain(&ctx, device.Handle);
        if (r != CUresult.CUDA_SUCCESS)
        {
            handle.Abandon();
            CudaDriver.Check(r, "cuDevicePrimaryCtxRetain", $"device {device.Ordinal}");
        }
        handle.SetHandleValue(ctx);
        var context = new CudaContext(device, handle);
        context.MakeCurrent();
        return context;
    }

    /// <summary>The device this context belongs to.</summary>
    public CudaDevice Device { get; }

    /// <summary>The CUcontext (for interop with native code); valid until Dispose.</summary>
    public nint NativeHandle => _handle.Value;

    /// <summary>True once <see cref="Dispose"/> ran.</summary>
    public bool IsDisposed => _handle.OwnerDisposed;

    internal ContextHandle Handle => _handle;

    /// <summary>Makes this context current on the calling thread (cuCtxSetCurrent).</summary>
    public void MakeCurrent() => _handle.Enter(nameof(CudaContext));

    /// <summary>Waits for all work in this context (cuCtxSynchronize); surfaces asynchronous kernel errors.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    /// <summary>Free and total memory of this context's device (cuMemGetInfo_v2).</summary>
    public CudaMemoryInfo GetMemoryInfo()
    {
        MakeCurrent();
        nuint free, total;
        CudaDriver.Check(CudaDriver.cuMemGetInfo_v2(&free, &total), "cuMemGetInfo_v2");
        return new CudaMemoryInfo((long)free, (long)total);
    }

    /// <summary>
    /// Releases this retain of the primary context. Objects still alive keep the context alive until they are
    /// disposed, but can no longer be used (they throw <see cref="ObjectDisposedException"/>).
    /// </summary>
    public void Dispose()
    {
        if (_handle.OwnerDisposed)
            return;
        _handle.OwnerDisposed = true;
        _handle.Release();
    }

    /// <inheritdoc/>
    public override string ToString() => $"CudaContext({Device})";
}

/// <summary>A non-blocking CUDA stream (CU_STREAM_NON_BLOCKING), of the default or the greatest priority.</summary>
public sealed unsafe class CudaStream : IDisposable
{
    private readonly StreamHandle _handle;

    private CudaStream(CudaContext context, StreamHandle handle)
    {
        Context = context;
        _handle = handle;
    }

    /// <summary>
    /// Creates a stream in <paramref name="context"/>; with <paramref name="highPriority"/>, of the greatest priority the
    /// context offers: the GPU then schedules its kernels' blocks ahead of those of default-priority streams still
    /// waiting to run (running blocks are not preempted).
    /// </summary>
    public static CudaStream Create(CudaContext context, bool highPriority = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Handle.Enter(nameof(CudaStream));
        var handle = new StreamHandle(context.Handle);
        nint s = 0;
        int least = 0, greatest = 0;
        string call = highPriority ? "cuCtxGetStreamPriorityRange" : "cuStreamCreate";
        var r = highPriority ? CudaDriver.cuCtxGetStreamPriorityRange(&least, &greatest) : CudaDriver.cuStreamCreate(&s, CudaDriver.CU_STREAM_NON_BLOCKING);
        if (highPriority && r == CUresult.CUDA_SUCCESS)
        {
            call = "cuStreamCreateWithPriority";
            r = CudaDriver.cuStreamCreateWithPriority(&s, CudaDriver.CU_STREAM_NON_BLOCKING, greatest);
        }
        if (r != CUresult.CUDA_SUCCESS)
        {
            handle.Abandon();
            CudaDriver.Check(r, call);
        }
        handle.SetHandleValue(s);
        return new CudaStream(context, handle);
    }

    /// <summary>The context the stream belongs to.</summary>
    public CudaContext Context { get; }

    /// <summary>The CUstream (also a cudaStream_t for the runtime API); valid until Dispose.</summary>
    public nint Handle => _handle.Value;

    internal nint Enter()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        _handle.Context.Enter(nameof(CudaStream));
        return _handle.Value;
    }

    /// <summary>Waits until all work queued on the stream has finished; surfaces asynchronous errors.</summary>
    public void Synchronize() => CudaDriver.Check(CudaDriver.cuStreamSynchronize(Enter()), "cuStreamSynchronize");

    /// <summary>
    /// Makes the work queued on this stream from now on wait for the work recorded before <paramref name="e"/> (on any
    /// stream of the context); the host does not wait. An event never recorded makes nothing wait.
    /// </summary>
    public void WaitFor(CudaEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        nint s = Enter();
        CudaDriver.Check(CudaDriver.cuStreamWaitEvent(s, e.Enter(), 0), "cuStreamWaitEvent");
    }

    /// <summary>Destroys the stream (cuStreamDestroy_v2). Queued work still completes.</summary>
    public void Dispose() => _handle.Release();
}

/// <summary>A CUDA event with timing enabled, for ordering and measuring GPU work.</summary>
public sealed unsafe class CudaEvent : IDisposable
{
    private readonly EventHandle _handle;

    private CudaEvent(EventHandle handle) => _handle = handle;

    /// <summary>Creates an event in <paramref name="context"/>.</summary>
    public static CudaEvent Create(CudaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Handle.Enter(nameof(CudaEvent));
        var handle = new EventHandle(context.Handle);
        nint e;
        var r = CudaDriver.cuEventCreate(&e, CudaDriver.CU_EVENT_DEFAULT);
        if (r != CUresult.CUDA_SUCCESS)
        {
            handle.Abandon();
            CudaDriver.Check(r, "cuEventCreate");
        }
        handle.SetHandleValue(e);
        return new CudaEvent(handle);
    }

    /// <summary>The CUevent; valid until Dispose.</summary>
    public nint Handle => _handle.Value;

    internal nint Enter()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        _handle.Context.Enter(nameof(CudaEvent));
        return _handle.Value;
    }

    /// <summary>Records the event at the current end of <paramref name="stream"/>'s queue.</summary>
    public void Record(CudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        nint e = Enter();
        CudaDriver.Check(CudaDriver.cuEventRecord(e, stream.Enter()), "cuEventRecord");
    }

    /// <summary>Waits until the work recorded before the event has finished.</summary>
    public void Synchronize() => CudaDriver.Check(CudaDriver.cuEventSynchronize(Enter()), "cuEventSynchronize");

    /// <summary>Whether the work recorded before the event has finished, without waiting (cuEventQuery).</summary>
    public bool IsComplete
    {
        get
        {
            var r = CudaDriver.cuEventQuery(Enter());
            if (r == CUresult.CUDA_ERROR_NOT_READY) return false;
            CudaDriver.Check(r, "cuEventQuery");
            return true;
        }
    }

    /// <summary>
    /// Milliseconds between two recorded and completed events (cuEventElapsedTime_v2 where the driver has it, else
    /// cuEventElapsedTime). Synchronize <paramref name="end"/> first.
    /// </summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(end);
        float ms;
        nint s = start.Enter(), e = end.Enter();
        CudaDriver.Check(CudaDriver.EventElapsedTime(&ms, s, e), CudaDriver.ElapsedTimeEntryPoint);
        return ms;
    }

    /// <summary>Destroys the event (cuEventDestroy_v2).</summary>
    public void Dispose() => _handle.Release();
}
