using System.Buffers;
using TrtNative.Cuda;
using TrtNative.Interop;

namespace TrtNative.Runtime;

/// <summary>Resampling filter of <see cref="GpuJpegDecoder.EnqueueResize"/> (OpenCV's definitions; trtn_interp).</summary>
public enum ResizeFilter
{
    /// <summary>Nearest neighbour, floor(dst × scale).</summary>
    Nearest = 0,
    /// <summary>Bilinear, half-pixel centres.</summary>
    Linear = 1,
    /// <summary>Keys cubic, a = −0.75.</summary>
    Cubic = 2,
    /// <summary>Box averages when shrinking; linear when enlarging.</summary>
    Area = 3,
    /// <summary>Lanczos, 8 taps.</summary>
    Lanczos4 = 4,
}

/// <summary>What decoding one file on the GPU gave.</summary>
/// <param name="Decoded">True when nvJPEG decoded it; false when it refused it (decode it another way).</param>
/// <param name="Width">Decoded width in pixels (0 when refused).</param>
/// <param name="Height">Decoded height in pixels (0 when refused).</param>
/// <param name="Error">Why it was refused: Unsupported (a JPEG nvJPEG does not decode) or InvalidArgument (unreadable).</param>
/// <param name="NvJpegStatus">nvjpegStatus_t of the refusing call (0 when decoded).</param>
public readonly record struct GpuJpegImage(bool Decoded, int Width, int Height, ErrorCode Error, int NvJpegStatus);

/// <summary>One resize of <see cref="GpuJpegDecoder.EnqueueResize"/>: decoded image <paramref name="Image"/> of the last
/// <see cref="GpuJpegDecoder.Decode"/>, resized to <paramref name="Width"/> × <paramref name="Height"/>, the output-size
/// window at (<paramref name="CropX"/>, <paramref name="CropY"/>) of that written at byte <paramref name="DestinationOffset"/>.</summary>
public readonly record struct JpegResize(int Image, long DestinationOffset, int Width, int Height, int CropX, int CropY, ResizeFilter Filter);

/// <summary>
/// Decodes batches of JPEG files on the GPU with nvJPEG (its hardware decoder where the GPU has one, e.g. A100, H100,
/// H200; its CUDA backend for the rest) and resizes the decoded images into a batch of fixed-size 8-bit images, the
/// layout <see cref="ImageBatchStager"/> normalises. A file nvJPEG refuses fails alone (<see cref="GpuJpegImage.Decoded"/>
/// false); decode it another way. The files are copied into pinned memory the decoder owns; the decoded images live in
/// device memory it owns, until the next <see cref="Decode"/>. Not thread-safe: one decoder per batch in flight.
/// </summary>
public sealed unsafe class GpuJpegDecoder : IDisposable
{
    private readonly CudaContext _context;
    private readonly NativeJpegDecoderHandle _handle;
    private readonly PinnedBuffer<ResizeItem> _hostItems;
    private readonly DeviceBuffer<ResizeItem> _items;
    private readonly JpegImage[] _images;
    private PinnedBuffer<byte>? _files;
    private int _decodedCount;

    /// <summary>Creates a decoder for batches of up to <paramref name="maxBatch"/> files.</summary>
    /// <exception cref="TrtNativeException">Unsupported when libtrtnative was built without nvJPEG or libnvjpeg is not
    /// installed; NoDevice without CUDA.</exception>
    public GpuJpegDecoder(CudaContext context, int maxBatch)
    {
        ArgumentNullException.ThrowIfNull(context);
        NativeLibraryLoader.EnsureLoaded();
        if (maxBatch < 1) throw new TrtNativeException(ErrorCode.InvalidArgument, $"max batch {maxBatch} must be >= 1");
        _context = context;
        MaxBatch = maxBatch;
        _images = new JpegImage[maxBatch];
        context.MakeCurrent();
        _handle = NativeJpegDecoderHandle.Create(context.Handle, context.Device.Ordinal, maxBatch);
        try
        {
            _hostItems = PinnedBuffer<ResizeItem>.Allocate(context, maxBatch);
            _items = DeviceBuffer<ResizeItem>.Allocate(context, maxBatch);
        }
        catch
        {
            _hostItems?.Dispose();
            _handle.Release();
            throw;
        }
    }

    /// <summary>
    /// True when nvJPEG's hardware decoder is in use (its CUDA backend takes the files it does not accept); false without
    /// one, or once hardware batches failed three times in a row although their files decoded alone.
    /// </summary>
    public bool IsHardware => NativeMethods.trtn_jpeg_decoder_is_hardware(_handle) != 0;

    /// <summary>Files per batch at most.</summary>
    public int MaxBatch { get; }

    /// <summary>
    /// Queues decoding of <paramref name="files"/> (1..<see cref="MaxBatch"/>) on <paramref name="stream"/> and reports
    /// per file in <paramref name="results"/> whether it was decoded; a refused file does not affect the others. Call
    /// only once the stream has passed the previous batch's <see cref="EnqueueResize"/> (the files' pinned copy and the
    /// decoded images are reused).
    /// </summary>
    public void Decode(CudaStream stream, IReadOnlyList<ReadOnlyMemory<byte>> files, Span<GpuJpegImage> results)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(files);
        int n = files.Count;
        if (n < 1 || n > MaxBatch) throw new TrtNativeException(ErrorCode.InvalidArgument, $"batch of {n} files; this decoder takes 1..{MaxBatch}");
        if (results.Length < n) throw new ArgumentException($"results holds {results.Length} entries, the batch has {n}", nameof(results));
        long total = 0;
        for (int i = 0; i < n; i++) total += files[i].Length;
        if (total > int.MaxValue) throw new TrtNativeException(ErrorCode.InvalidArgument, $"the batch's files hold {total} bytes, over 2 GiB");
        if (_files == null || _files.Length < total)
        {
            _files?.Dispose();
            _files = null;
            _files = PinnedBuffer<byte>.Allocate(_context, (int)Math.Min(int.MaxValue, Math.Max(total + total / 4, 1 << 20)));
        }
        var data = stackalloc nint[n];
        var sizes = stackalloc ulong[n];
        var pinned = _files.Span;
        long offset = 0;
        for (int i = 0; i < n; i++)
        {
            files[i].Span.CopyTo(pinned[(int)offset..]);
            data[i] = _files.Pointer + (nint)offset;
            sizes[i] = (ulong)files[i].Length;
            offset += files[i].Length;
        }
        nint s = stream.Enter();
        fixed (JpegImage* images = _images)
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_jpeg_decoder_decode(_handle, data, sizes, n, s, images));
        _decodedCount = n;
        for (int i = 0; i < n; i++)
        {
            var im = _images[i];
            results[i] = im.Status == 0
                ? new GpuJpegImage(true, im.Width, im.Height, ErrorCode.Ok, 0)
                : new GpuJpegImage(false, 0, 0, Enum.IsDefined(typeof(ErrorCode), im.Status) ? (ErrorCode)im.Status : ErrorCode.Internal, im.NvjpegStatus);
        }
    }

    /// <summary>
    /// Queues on <paramref name="stream"/> the resize of decoded images of the last <see cref="Decode"/> into
    /// <paramref name="destination"/> (device memory): each job writes <paramref name="outHeight"/> ×
    /// <paramref name="outWidth"/> × <paramref name="outChannels"/> bytes, interleaved (3: R,G,B; 1: OpenCV's grey of
    /// each decoded pixel) at its offset. The arithmetic is the server's CPU resampler's.
    /// </summary>
    public void EnqueueResize(CudaStream stream, ReadOnlySpan<JpegResize> jobs, DeviceBuffer<byte> destination, int outHeight, int outWidth, int outChannels)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(destination);
        if (jobs.Length == 0) return;
        if (jobs.Length > MaxBatch) throw new TrtNativeException(ErrorCode.InvalidArgument, $"{jobs.Length} resizes; this decoder takes up to {MaxBatch}");
        if (outHeight <= 0 || outWidth <= 0 || outChannels is not (1 or 3))
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"output {outWidth}x{outHeight}x{outChannels}: size must be positive, channels 1 or 3");
        long outBytes = (long)outHeight * outWidth * outChannels;
        var items = _hostItems.Span;
        for (int k = 0; k < jobs.Length; k++)
        {
            var j = jobs[k];
            if ((uint)j.Image >= (uint)_decodedCount || _images[j.Image].Status != 0)
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"resize {k}: image {j.Image} was not decoded by the last Decode");
            if (j.Width < outWidth || j.Height < outHeight || j.CropX < 0 || j.CropY < 0 || j.CropX + outWidth > j.Width || j.CropY + outHeight > j.Height)
                throw new TrtNativeException(ErrorCode.InvalidArgument,
                    $"resize {k}: the {outWidth}x{outHeight} window at ({j.CropX},{j.CropY}) is not inside the resized {j.Width}x{j.Height} image");
            if (j.DestinationOffset < 0 || j.DestinationOffset + outBytes > destination.Length)
                throw new TrtNativeException(ErrorCode.InvalidArgument, $"resize {k}: {outBytes} bytes at {j.DestinationOffset} do not fit the destination's {destination.Length}");
            if (!Enum.IsDefined(j.Filter)) throw new TrtNativeException(ErrorCode.InvalidArgument, $"resize {k}: unknown filter {(int)j.Filter}");
            var im = _images[j.Image];
            items[k] = new ResizeItem
            {
                Src = im.Pixels, Dst = (ulong)destination.DevicePointer + (ulong)j.DestinationOffset,
                SrcWidth = im.Width, SrcHeight = im.Height, SrcPitch = im.Pitch,
                ResizeWidth = j.Width, ResizeHeight = j.Height, CropX = j.CropX, CropY = j.CropY, Interp = (int)j.Filter,
            };
        }
        _items.EnqueueCopyFrom(_hostItems, stream, jobs.Length);
        nint s = stream.Enter();
        NativeStatus.ThrowIfFailed(NativeMethods.trtn_resize_images(_items.DevicePointer, jobs.Length, 3, outChannels, outHeight, outWidth, s));
    }

    /// <summary>Frees the decoder, its device memory and its pinned buffers (queued work using them must have finished).</summary>
    public void Dispose()
    {
        _items.Dispose();
        _hostItems.Dispose();
        _files?.Dispose();
        _handle.Release();
    }
}
