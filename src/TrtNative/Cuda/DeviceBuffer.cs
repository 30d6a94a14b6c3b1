namespace TrtNative.Cuda;

/// <summary>
/// A block of device (GPU) memory holding <see cref="Length"/> elements of <typeparamref name="T"/>, allocated with
/// cuMemAlloc_v2 and freed deterministically by <see cref="Dispose"/>. A buffer that is never disposed is not freed
/// by the finalizer (which must not call CUDA): it is counted in <see cref="CudaDiagnostics.LeakedAllocations"/>.
/// Not thread-safe: one thread (or one stream) at a time.
/// </summary>
/// <typeparam name="T">An unmanaged element type.</typeparam>
public sealed unsafe class DeviceBuffer<T> : IDisposable where T : unmanaged
{
    private readonly DeviceMemoryHandle _handle;

    private DeviceBuffer(CudaContext context, DeviceMemoryHandle handle, long length)
    {
        Context = context;
        _handle = handle;
        Length = length;
    }

    /// <summary>Allocates <paramref name="length"/> elements of uninitialized device memory in <paramref name="context"/>.</summary>
    /// <exception cref="TrtNativeException"><see cref="ErrorCode.OutOfMemory"/> when the GPU can't satisfy it (the
    /// context stays usable); InvalidArgument for a non-positive length.</exception>
    public static DeviceBuffer<T> Allocate(CudaContext context, long length)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (length <= 0 || length > long.MaxValue / sizeof(T))
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"DeviceBuffer<{typeof(T).Name}> length must be positive and addressable, got {length}.");
        long bytes = length * sizeof(T);
        context.Handle.Enter(nameof(DeviceBuffer<T>));
        var handle = new DeviceMemoryHandle(context.Handle, bytes);
        ulong ptr;
        var r = CudaDriver.cuMemAlloc_v2(&ptr, (nuint)bytes);
        if (r != CUresult.CUDA_SUCCESS)
        {
            handle.Abandon();
            CudaDriver.Check(r, "cuMemAlloc_v2", $"{bytes} bytes for {length} x {typeof(T).Name}");
        }
        handle.SetHandleValue((nint)ptr);
        CudaDiagnostics.DeviceAllocated(bytes);
        return new DeviceBuffer<T>(context, handle, length);
    }

    /// <summary>The context the memory lives in.</summary>
    public CudaContext Context { get; }

    /// <summary>Number of elements.</summary>
    public long Length { get; }

    /// <summary>Size in bytes.</summary>
    public long SizeInBytes => Length * sizeof(T);

    /// <summary>
    /// The device address (CUdeviceptr, also a valid runtime-API device pointer). It is device memory: never
    /// dereference it on the host. Valid until <see cref="Dispose"/>.
    /// </summary>
    public nint DevicePointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.Value;
        }
    }

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _handle.IsClosed;

    /// <summary>The owning handle, for native objects that must keep this memory alive (<see cref="CudaHandle.KeepAlive"/>).</summary>
    internal DeviceMemoryHandle Handle => _handle;

    private ulong Enter()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        _handle.Context.Enter($"DeviceBuffer<{typeof(T).Name}>");
        return _handle.Pointer;
    }

    private ulong Address(long offset, long count, string what)
    {
        if (offset < 0 || count < 0 || offset > Length - count)
            throw new TrtNativeException(ErrorCode.InvalidArgument,
                $"{what}: {count} element(s) at offset {offset} do not fit a DeviceBuffer<{typeof(T).Name}> of {Length}.");
        return Enter() + (ulong)(offset * sizeof(T));
    }

    /// <summary>Copies host memory into the buffer at <paramref name="offset"/> elements; returns when the copy is done.</summary>
    /// <param name="source">Host memory; read only during the call.</param>
    /// <param name="offset">Destination offset in elements.</param>
    public void CopyFrom(ReadOnlySpan<T> source, long offset = 0)
    {
        ulong dst = Address(offset, source.Length, nameof(CopyFrom));
        if (source.IsEmpty)
            return;
        fixed (T* p = source)
            CudaDriver.Check(CudaDriver.cuMemcpyHtoD_v2(dst, p, (nuint)(source.Length * sizeof(T))), "cuMemcpyHtoD_v2");
        // From pageable memory the call may return once the data is staged, before the DMA lands; work on a
        // non-blocking stream is not ordered after it. Waiting for the legacy stream, which carried the copy, makes the
        // "done" of this method true.
        CudaDriver.Check(CudaDriver.cuStreamSynchronize(0), "cuStreamSynchronize");
    }

    /// <summary>Copies from the buffer at <paramref name="offset"/> elements into host memory; returns when the copy is done.</summary>
    /// <param name="destination">Host memory; written during the call. Its length is the element count copied.</param>
    /// <param name="offset">Source offset in elements.</param>
    public void CopyTo(Span<T> destination, long offset = 0)
    {
        ulong src = Address(offset, destination.Length, nameof(CopyTo));
        if (destination.IsEmpty)
            return;
        fixed (T* p = destination)
            CudaDriver.Check(CudaDriver.cuMemcpyDtoH_v2(p, src, (nuint)(destination.Length * sizeof(T))), "cuMemcpyDtoH_v2");
    }

    /// <summary>Copies the whole buffer to a new host array (synchronous).</summary>
    public T[] ToArray()
    {
        if (Length > Array.MaxLength)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"DeviceBuffer of {Length} elements is too large for one array.");
        var result = new T[Length];
        CopyTo(result);
        return result;
    }

    /// <summary>Copies all of <paramref name="source"/> (device to device, same length) into this buffer; synchronous for the host.</summary>
    public void CopyFrom(DeviceBuffer<T> source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Length != Length)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"Device-to-device copy needs equal lengths, got {source.Length} into {Length}.");
        ulong src = source.Enter();
        ulong dst = Enter();
        CudaDriver.Check(CudaDriver.cuMemcpyDtoD_v2(dst, src, (nuint)SizeInBytes), "cuMemcpyDtoD_v2");
    }

    /// <summary>
    /// Queues a copy of <paramref name="count"/> elements (default: as many as both hold) from pinned host memory
    /// into the start of this buffer on <paramref name="stream"/>. Returns at once: keep both buffers alive and
    /// <paramref name="source"/> unmodified until the stream (or a later event) is synchronized.
    /// </summary>
    public void EnqueueCopyFrom(PinnedBuffer<T> source, CudaStream stream, long count = -1)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(stream);
        count = CheckCount(count, source.Length, nameof(EnqueueCopyFrom));
        nint s = stream.Enter();
        ulong dst = Enter();
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync_v2(dst, (void*)source.Pointer, (nuint)(count * sizeof(T)), s), "cuMemcpyHtoDAsync_v2");
    }

    /// <summary>
    /// Queues a copy of elements <paramref name="offset"/>..offset+count-1 of pinned host memory into the same elements
    /// of this buffer on <paramref name="stream"/> (as <see cref="EnqueueCopyFrom(PinnedBuffer{T}, CudaStream, long)"/>).
    /// </summary>
    public void EnqueueCopyFrom(PinnedBuffer<T> source, CudaStream stream, long offset, long count)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(stream);
        if (offset < 0 || count < 0 || offset + count > Math.Min(source.Length, Length))
            throw new TrtNativeException(ErrorCode.InvalidArgument,
                $"EnqueueCopyFrom: elements {offset}..{offset + count - 1} do not fit (device buffer {Length}, pinned buffer {source.Length}).");
        if (count == 0) return;
        nint s = stream.Enter();
        ulong dst = Enter() + (ulong)(offset * sizeof(T));
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync_v2(dst, (void*)(source.Pointer + (nint)(offset * sizeof(T))), (nuint)(count * sizeof(T)), s),
            "cuMemcpyHtoDAsync_v2");
    }

    /// <summary>
    /// Queues a copy of <paramref name="count"/> elements (default: as many as both hold) from the start of this
    /// buffer into pinned host memory on <paramref name="stream"/>. Returns at once: read
    /// <paramref name="destination"/> only after the stream (or a later event) is synchronized.
    /// </summary>
    public void EnqueueCopyTo(PinnedBuffer<T> destination, CudaStream stream, long count = -1)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(stream);
        count = CheckCount(count, destination.Length, nameof(EnqueueCopyTo));
        nint s = stream.Enter();
        ulong src = Enter();
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync_v2((void*)destination.Pointer, src, (nuint)(count * sizeof(T)), s), "cuMemcpyDtoHAsync_v2");
    }

    private long CheckCount(long count, long hostLength, string what)
    {
        long max = Math.Min(hostLength, Length);
        if (count == -1)
            return max;
        if (count < 0 || count > max)
            throw new TrtNativeException(ErrorCode.InvalidArgument,
                $"{what}: {count} element(s) do not fit (device buffer {Length}, pinned buffer {hostLength}).");
        return count;
    }

    /// <summary>Sets every byte to zero (synchronous).</summary>
    public void Clear() => CudaDriver.Check(CudaDriver.cuMemsetD8_v2(Enter(), 0, (nuint)SizeInBytes), "cuMemsetD8_v2");

    /// <summary>Queues setting every byte to zero on <paramref name="stream"/>.</summary>
    public void Clear(CudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        nint s = stream.Enter();
        CudaDriver.Check(CudaDriver.cuMemsetD8Async(Enter(), 0, (nuint)SizeInBytes, s), "cuMemsetD8Async");
    }

    /// <summary>
    /// Frees the device memory (cuMemFree_v2). Safe after the context's Dispose (the buffer held the context alive).
    /// Queued work that uses the buffer must have finished.
    /// </summary>
    public void Dispose() => _handle.Release();
}

/// <summary>
/// Page-locked host memory (cuMemAllocHost_v2) for fast and asynchronous copies. <see cref="Span"/> is host memory,
/// valid until <see cref="Dispose"/>; while a queued copy uses it, don't touch it until its stream is synchronized.
/// </summary>
/// <typeparam name="T">An unmanaged element type.</typeparam>
public sealed unsafe class PinnedBuffer<T> : IDisposable where T : unmanaged
{
    private readonly HostMemoryHandle _handle;

    private PinnedBuffer(HostMemoryHandle handle, int length)
    {
        _handle = handle;
        Length = length;
    }

    /// <summary>Allocates <paramref name="length"/> elements of pinned host memory in <paramref name="context"/> (contents undefined).</summary>
    public static PinnedBuffer<T> Allocate(CudaContext context, int length)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (length <= 0)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"PinnedBuffer<{typeof(T).Name}> length must be positive, got {length}.");
        long bytes = (long)length * sizeof(T);
        context.Handle.Enter(nameof(PinnedBuffer<T>));
        var handle = new HostMemoryHandle(context.Handle, bytes);
        void* p;
        var r = CudaDriver.cuMemAllocHost_v2(&p, (nuint)bytes);
        if (r != CUresult.CUDA_SUCCESS)
        {
            handle.Abandon();
            CudaDriver.Check(r, "cuMemAllocHost_v2", $"{bytes} bytes");
        }
        handle.SetHandleValue((nint)p);
        CudaDiagnostics.PinnedAllocated(bytes);
        return new PinnedBuffer<T>(handle, length);
    }

    /// <summary>Number of elements.</summary>
    public int Length { get; }

    /// <summary>Size in bytes.</summary>
    public long SizeInBytes => (long)Length * sizeof(T);

    /// <summary>Host address of the memory; valid until Dispose.</summary>
    public nint Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
            return _handle.Value;
        }
    }

    /// <summary>The memory as a host span; valid until <see cref="Dispose"/> (do not keep it past that).</summary>
    public Span<T> Span => new((void*)Pointer, Length);

    /// <summary>Frees the pinned memory (cuMemFreeHost). Queued copies that use it must have finished.</summary>
    public void Dispose() => _handle.Release();
}
