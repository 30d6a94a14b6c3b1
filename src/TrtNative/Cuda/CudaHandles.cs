using System.Runtime.InteropServices;

namespace TrtNative.Cuda;

/// <summary>
/// Base of every owning CUDA handle. The native release runs only after the owner asked for it through
/// <see cref="Release"/> (Dispose). If the handle is instead reached by the finalizer, it does not call into CUDA
/// (the driver may be torn down, the context gone, and the finalizer thread has no current context): it counts a
/// leak in <see cref="CudaDiagnostics.LeakedAllocations"/> and lets the memory go with the process.
/// A child handle (memory, stream, event) holds its context alive with DangerousAddRef until it is released; a handle
/// may also keep other handles alive it needs (<see cref="KeepAlive"/>): an engine its weights, a context its engine.
/// Releases therefore run in dependency order whatever order the owners dispose in: this handle's native object
/// first, then its dependencies (newest first), then its parent.
/// </summary>
internal abstract class CudaHandle : SafeHandle
{
    private volatile bool _releaseRequested;
    private readonly List<CudaHandle> _dependencies = new();

    protected CudaHandle(CudaHandle? parent) : base(0, ownsHandle: true)
    {
        if (parent is not null)
        {
            bool added = false;
            parent.DangerousAddRef(ref added);
            Parent = parent;
        }
    }

    /// <summary>The handle this one keeps alive: its context (null for the context itself).</summary>
    internal CudaHandle? Parent { get; }

    /// <summary>The context a child handle lives in.</summary>
    internal ContextHandle Context => (ContextHandle)Parent!;

    public override bool IsInvalid => handle == 0;

    /// <summary>What this handle is, for leak and error messages.</summary>
    internal abstract string Kind { get; }

    internal void SetHandleValue(nint value) => SetHandle(value);

    internal nint Value => handle;

    /// <summary>
    /// Keeps <paramref name="dependency"/> alive (DangerousAddRef) until this handle's native object is released.
    /// Throws <see cref="ObjectDisposedException"/> when the dependency was already disposed.
    /// </summary>
    internal void KeepAlive(CudaHandle dependency)
    {
        ArgumentNullException.ThrowIfNull(dependency);
        bool added = false;
        try
        {
            dependency.DangerousAddRef(ref added);
            lock (_dependencies) _dependencies.Add(dependency);
            added = false;
        }
        finally
        {
            if (added) dependency.DangerousRelease();
        }
    }

    /// <summary>For a handle whose native create call failed: drops the parent and dependency references, frees nothing.</summary>
    internal void Abandon()
    {
        SetHandleAsInvalid();
        ReleaseReferences();
    }

    private void ReleaseReferences()
    {
        CudaHandle[] deps;
        lock (_dependencies)
        {
            deps = _dependencies.ToArray();
            _dependencies.Clear();
        }
        for (int i = deps.Length - 1; i >= 0; i--) deps[i].DangerousRelease();
        Parent?.DangerousRelease();
    }

    /// <summary>Deterministic release: frees the native object now (or when the last child lets go of a context).</summary>
    internal void Release()
    {
        _releaseRequested = true;
        Dispose();
    }

    protected sealed override bool ReleaseHandle()
    {
        if (!_releaseRequested)
        {
            // Finalizer path: never call into CUDA here. The parent's and dependencies' references are deliberately
            // not released either, since that could run their releases on this thread.
            CudaDiagnostics.RecordLeak(Kind);
            return true;
        }
        try
        {
            var result = ReleaseNative();
            if (result != CUresult.CUDA_SUCCESS)
                CudaDiagnostics.RecordFailedRelease(Kind, result);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // A fake handle in a test, or the driver vanished: nothing to free through.
            CudaDiagnostics.RecordFailedRelease(Kind, CUresult.CUDA_ERROR_DEINITIALIZED);
        }
        finally
        {
            ReleaseReferences();
        }
        return true;
    }

    /// <summary>Frees the native object; runs on the disposing thread, never the finalizer.</summary>
    protected abstract CUresult ReleaseNative();

    /// <summary>Makes the parent context current on this thread before freeing, as the driver expects.</summary>
    protected CUresult EnterParent() => Parent is null ? CUresult.CUDA_SUCCESS : CudaDriver.cuCtxSetCurrent(Parent.Value);
}

/// <summary>A retained primary context (CUcontext); release is cuDevicePrimaryCtxRelease_v2 on its device.</summary>
internal sealed class ContextHandle : CudaHandle
{
    internal ContextHandle(int device) : base(null) => Device = device;

    internal int Device { get; }

    /// <summary>Set once the public <see cref="CudaContext"/> is disposed: children may then only be disposed.</summary>
    internal volatile bool OwnerDisposed;

    internal override string Kind => "CUcontext (primary)";

    protected override CUresult ReleaseNative() => CudaDriver.cuDevicePrimaryCtxRelease_v2(Device);

    /// <summary>Makes this context current on the calling thread for an operation of <paramref name="owner"/>.</summary>
    internal void Enter(string owner)
    {
        if (OwnerDisposed || IsClosed)
            throw new ObjectDisposedException(owner,
                $"The CudaContext of device {Device} was disposed; {owner} can only be disposed now. " +
                "Dispose buffers, streams and events before their context.");
        CudaDriver.Check(CudaDriver.cuCtxSetCurrent(Value), "cuCtxSetCurrent");
    }
}

/// <summary>Device memory from cuMemAlloc_v2 (CUdeviceptr stored in the handle field).</summary>
internal sealed class DeviceMemoryHandle : CudaHandle
{
    internal DeviceMemoryHandle(ContextHandle parent, long bytes) : base(parent) => Bytes = bytes;

    internal long Bytes { get; }

    internal ulong Pointer => (ulong)Value;

    internal override string Kind => "device memory (cuMemAlloc_v2)";

    protected override CUresult ReleaseNative()
    {
        var r = EnterParent();
        if (r != CUresult.CUDA_SUCCESS)
            return r;
        r = CudaDriver.cuMemFree_v2(Pointer);
        CudaDiagnostics.DeviceFreed(Bytes);
        return r;
    }
}

/// <summary>Page-locked host memory from cuMemAllocHost_v2.</summary>
internal sealed unsafe class HostMemoryHandle : CudaHandle
{
    internal HostMemoryHandle(ContextHandle parent, long bytes) : base(parent) => Bytes = bytes;

    internal long Bytes { get; }

    internal override string Kind => "pinned host memory (cuMemAllocHost_v2)";

    protected override CUresult ReleaseNative()
    {
        var r = EnterParent();
        if (r != CUresult.CUDA_SUCCESS)
            return r;
        r = CudaDriver.cuMemFreeHost((void*)Value);
        CudaDiagnostics.PinnedFreed(Bytes);
        return r;
    }
}

/// <summary>A CUstream from cuStreamCreate.</summary>
internal sealed class StreamHandle : CudaHandle
{
    internal StreamHandle(ContextHandle parent) : base(parent) { }

    internal override string Kind => "CUstream";

    protected override CUresult ReleaseNative()
    {
        var r = EnterParent();
        return r != CUresult.CUDA_SUCCESS ? r : CudaDriver.cuStreamDestroy_v2(Value);
    }
}

/// <summary>A CUevent from cuEventCreate.</summary>
internal sealed class EventHandle : CudaHandle
{
    internal EventHandle(ContextHandle parent) : base(parent) { }

    internal override string Kind => "CUevent";

    protected override CUresult ReleaseNative()
    {
        var r = EnterParent();
        return r != CUresult.CUDA_SUCCESS ? r : CudaDriver.cuEventDestroy_v2(Value);
    }
}
