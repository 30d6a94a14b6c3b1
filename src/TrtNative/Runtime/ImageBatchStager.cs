using TrtNative.Cuda;
using TrtNative.Interop;

namespace TrtNative.Runtime;

/// <summary>
/// Moves batches of 8-bit images to the GPU and normalises them there. The caller writes each image's interleaved
/// pixels straight into pinned host memory (<see cref="Image"/>) and sets its <see cref="ImageNormalization"/>; then
/// <see cref="EnqueueNormalize(CudaStream, int, DeviceBuffer{float}, bool)"/> queues one asynchronous upload of the pixels
/// (a quarter of the bytes of float input) and a kernel that reorders channels, normalises, converts to the
/// destination type and writes planar (NCHW) or interleaved (NHWC) values, e.g. into an engine input.
/// Not thread-safe. The pinned memory is read by the queued copy: rewrite it only after the stream has passed it.
/// </summary>
public sealed unsafe class ImageBatchStager : IDisposable
{
    private readonly PinnedBuffer<byte> _hostPixels;
    private readonly PinnedBuffer<ImageParams> _hostParams;
    private readonly DeviceBuffer<byte> _pixels;
    private readonly DeviceBuffer<ImageParams> _params;
    private readonly ImageNormalization?[] _norms;

    /// <summary>Allocates pinned and device memory for <paramref name="maxBatch"/> images of height × width × channels bytes.</summary>
    public ImageBatchStager(CudaContext context, int maxBatch, int height, int width, int channels)
    {
        ArgumentNullException.ThrowIfNull(context);
        NativeLibraryLoader.EnsureLoaded();
        if (maxBatch <= 0 || height <= 0 || width <= 0 || channels is < 1 or > 4)
            throw new TrtNativeException(ErrorCode.InvalidArgument,
                $"image batch {maxBatch} x {height}x{width}x{channels}: batch and size must be positive, channels 1..4");
        long bytes = (long)maxBatch * height * width * channels;
        if (bytes > int.MaxValue)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"image batch of {bytes} bytes exceeds the 2 GiB staging limit");
        (MaxBatch, Height, Width, Channels) = (maxBatch, height, width, channels);
        ImageBytes = height * width * channels;
        _norms = new ImageNormalization?[maxBatch];
        var owned = new List<IDisposable>();
        try
        {
            _hostPixels = PinnedBuffer<byte>.Allocate(context, (int)bytes);
            owned.Add(_hostPixels);
            _hostParams = PinnedBuffer<ImageParams>.Allocate(context, maxBatch);
            owned.Add(_hostParams);
            _pixels = DeviceBuffer<byte>.Allocate(context, bytes);
            owned.Add(_pixels);
            _params = DeviceBuffer<ImageParams>.Allocate(context, maxBatch);
        }
        catch
        {
            foreach (var o in owned) o.Dispose();
            throw;
        }
    }

    /// <summary>Images per batch at most.</summary>
    public int MaxBatch { get; }
    /// <summary>Image height in pixels.</summary>
    public int Height { get; }
    /// <summary>Image width in pixels.</summary>
    public int Width { get; }
    /// <summary>Interleaved channels per source pixel.</summary>
    public int Channels { get; }
    /// <summary>Bytes per image (height × width × channels).</summary>
    public int ImageBytes { get; }

    /// <summary>
    /// The device copy of the batch's pixels (image i at byte i × <see cref="ImageBytes"/>), which the normalisation reads:
    /// for work that writes images on the device itself (e.g. <see cref="GpuJpegDecoder.EnqueueResize"/>) before
    /// <see cref="EnqueueNormalizeOnDevice(CudaStream, int, DeviceBuffer{float}, bool)"/>.
    /// </summary>
    public DeviceBuffer<byte> DevicePixels => _pixels;

    /// <summary>Pinned memory for image <paramref name="index"/>: write its height × width × channels bytes here.</summary>
    public Span<byte> Image(int index)
    {
        CheckIndex(index);
        return _hostPixels.Span.Slice(index * ImageBytes, ImageBytes);
    }

    /// <summary>Sets how image <paramref name="index"/> is normalised (kept for later batches until replaced).</summary>
    public void SetNormalization(int index, ImageNormalization normalization)
    {
        ArgumentNullException.ThrowIfNull(normalization);
        CheckIndex(index);
        normalization.CheckSource(Channels);
        _norms[index] = normalization;
        _hostParams.Span[index] = normalization.ToNative();
    }

    /// <summary>Queues upload and normalisation of images 0..count-1 into <paramref name="destination"/> (float32).</summary>
    public void EnqueueNormalize(CudaStream stream, int count, DeviceBuffer<float> destination, bool planar = true)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Enqueue(stream, count, destination.DevicePointer, destination.Length, NativeDType.Float32, planar);
    }

    /// <summary>Queues upload and normalisation of images 0..count-1 into <paramref name="destination"/> (float16).</summary>
    public void EnqueueNormalize(CudaStream stream, int count, DeviceBuffer<Half> destination, bool planar = true)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Enqueue(stream, count, destination.DevicePointer, destination.Length, NativeDType.Float16, planar);
    }

    /// <summary>
    /// Queues the upload of images <paramref name="first"/>..first+count-1 from pinned to device memory, for batches
    /// whose other images are written on the device (<see cref="DevicePixels"/>).
    /// </summary>
    public void EnqueueUpload(CudaStream stream, int first, int count)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (first < 0 || count < 0 || first + count > MaxBatch)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"images {first}..{first + count - 1} outside 0..{MaxBatch - 1}");
        if (count == 0) return;
        _pixels.EnqueueCopyFrom(_hostPixels, stream, (long)first * ImageBytes, (long)count * ImageBytes);
    }

    /// <summary>
    /// As <see cref="EnqueueNormalize(CudaStream, int, DeviceBuffer{float}, bool)"/> without the upload: normalises what
    /// <see cref="DevicePixels"/> holds (uploaded with <see cref="EnqueueUpload"/> or written on the device).
    /// </summary>
    public void EnqueueNormalizeOnDevice(CudaStream stream, int count, DeviceBuffer<float> destination, bool planar = true)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Enqueue(stream, count, destination.DevicePointer, destination.Length, NativeDType.Float32, planar, upload: false);
    }

    private void Enqueue(CudaStream stream, int count, nint dst, long dstLength, NativeDType type, bool planar, bool upload = true)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (count < 1 || count > MaxBatch)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"batch of {count} images; this stager holds 1..{MaxBatch}");
        int outChannels = 0;
        for (int i = 0; i < count; i++)
        {
            var n = _norms[i] ?? throw new TrtNativeException(ErrorCode.InvalidArgument, $"image {i} has no normalisation set");
            if (i > 0 && n.Channels != outChannels)
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"image {i} has {n.Channels} output channel(s), image 0 has {outChannels}");
            outChannels = n.Channels;
        }
        long need = (long)count * outChannels * Height * Width;
        if (dstLength < need)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"destination holds {dstLength} values, {count} image(s) of {outChannels}x{Height}x{Width} need {need}");
        if (upload) _pixels.EnqueueCopyFrom(_hostPixels, stream, (long)count * ImageBytes);
        _params.EnqueueCopyFrom(_hostParams, stream, count);
        nint s = stream.Enter();
        NativeStatus.ThrowIfFailed(NativeMethods.trtn_preprocess_images(_pixels.DevicePointer, _params.DevicePointer, count, Height, Width,
            Channels, outChannels, (int)type, planar ? 0 : 1, dst, s));
    }

    private void CheckIndex(int index)
    {
        if ((uint)index >= (uint)MaxBatch)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"image index {index} outside 0..{MaxBatch - 1}");
    }

    /// <summary>Frees the device and pinned memory (queued work using it must have finished).</summary>
    public void Dispose()
    {
        _params.Dispose();
        _pixels.Dispose();
        _hostParams.Dispose();
        _hostPixels.Dispose();
    }
}
