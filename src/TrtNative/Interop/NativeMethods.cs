using System.Runtime.InteropServices;
using TrtNative.Cuda;

namespace TrtNative.Interop;

/// <summary>
/// The C ABI of libtrtnative (native/include/trtnative.h). Every function that can fail returns a trtn_status*
/// (<see cref="nint"/>, 0 on success) that must go through <see cref="NativeStatus.ThrowIfFailed"/>.
/// </summary>
internal static unsafe partial class NativeMethods
{
    internal const string Library = "trtnative";

    // int32_t trtn_abi_version(void);
    [LibraryImport(Library)] internal static partial int trtn_abi_version();

    // const char* trtn_version(void);
    [LibraryImport(Library)] internal static partial nint trtn_version();

    // int32_t trtn_has_cuda(void);
    [LibraryImport(Library)] internal static partial int trtn_has_cuda();

    // uint64_t trtn_layer_params_size(int32_t kind);
    [LibraryImport(Library)] internal static partial ulong trtn_layer_params_size(int kind);

    // int32_t trtn_status_code(const trtn_status* status);
    [LibraryImport(Library)] internal static partial int trtn_status_code(nint status);

    // const char* trtn_status_message(const trtn_status* status);
    [LibraryImport(Library)] internal static partial nint trtn_status_message(nint status);

    // void trtn_status_destroy(trtn_status* status);
    [LibraryImport(Library)] internal static partial void trtn_status_destroy(nint status);

    // trtn_status* trtn_device_get_info(int32_t device, trtn_device_info* out);
    [LibraryImport(Library)] internal static partial nint trtn_device_get_info(int device, DeviceInfo* info);

    // trtn_status* trtn_engine_create(int32_t device, trtn_engine** out);
    [LibraryImport(Library)] internal static partial nint trtn_engine_create(int device, out nint engine);

    // void trtn_engine_destroy(trtn_engine* engine);
    [LibraryImport(Library)] internal static partial void trtn_engine_destroy(nint engine);

    // trtn_status* trtn_engine_add_tensor(trtn_engine* engine, int32_t dtype, int32_t rank, int32_t* out_id);
    [LibraryImport(Library)] internal static partial nint trtn_engine_add_tensor(NativeEngineHandle engine, int dtype, int rank, int* id);

    // trtn_status* trtn_engine_add_layer(trtn_engine*, const char* name, int32_t kind, const void* params, uint64_t params_size,
    //                                    const int32_t* inputs, int32_t input_count, const int32_t* outputs, int32_t output_count);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint trtn_engine_add_layer(NativeEngineHandle engine, string name, int kind, byte* parameters, ulong paramsSize,
        int* inputs, int inputCount, int* outputs, int outputCount);

    // trtn_status* trtn_engine_set_layer_tactics(trtn_engine*, int32_t layer, const int64_t* output_elements, const int32_t* tactics, int32_t count);
    [LibraryImport(Library)]
    internal static partial nint trtn_engine_set_layer_tactics(NativeEngineHandle engine, int layer, long* outputElements, int* tactics, int count);

    // trtn_status* trtn_engine_build(trtn_engine* engine, const trtn_build_options* options);
    [LibraryImport(Library)] internal static partial nint trtn_engine_build(NativeEngineHandle engine, BuildOptions* options);

    // int32_t trtn_engine_layer_count(const trtn_engine* engine);
    [LibraryImport(Library)] internal static partial int trtn_engine_layer_count(NativeEngineHandle engine);

    // int32_t trtn_engine_get_tactic(const trtn_engine* engine, int32_t layer);
    [LibraryImport(Library)] internal static partial int trtn_engine_get_tactic(NativeEngineHandle engine, int layer);

    // trtn_status* trtn_context_create(trtn_engine* engine, trtn_context** out);
    [LibraryImport(Library)] internal static partial nint trtn_context_create(NativeEngineHandle engine, out nint context);

    // void trtn_context_destroy(trtn_context* context);
    [LibraryImport(Library)] internal static partial void trtn_context_destroy(nint context);

    // trtn_status* trtn_context_set_shapes(trtn_context*, const int64_t* dims, int64_t dims_count, uint64_t* workspace_bytes);
    [LibraryImport(Library)] internal static partial nint trtn_context_set_shapes(NativeContextHandle context, long* dims, long count, ulong* workspace);

    // trtn_status* trtn_context_set_tensor_addresses(trtn_context*, void* const* addresses, int32_t count);
    [LibraryImport(Library)] internal static partial nint trtn_context_set_tensor_addresses(NativeContextHandle context, nint* addresses, int count);

    // trtn_status* trtn_context_set_workspace(trtn_context*, void* workspace, uint64_t bytes);
    [LibraryImport(Library)] internal static partial nint trtn_context_set_workspace(NativeContextHandle context, nint workspace, ulong bytes);

    // trtn_status* trtn_context_set_graph_capture(trtn_context*, int32_t enabled);
    [LibraryImport(Library)] internal static partial nint trtn_context_set_graph_capture(NativeContextHandle context, int enabled);

    // trtn_status* trtn_context_enqueue(trtn_context*, void* stream);
    [LibraryImport(Library)] internal static partial nint trtn_context_enqueue(NativeContextHandle context, nint stream);

    // trtn_status* trtn_context_autotune(trtn_context*, void* stream, int32_t* tactics, float* times_ms, int32_t layer_count);
    [LibraryImport(Library)] internal static partial nint trtn_context_autotune(NativeContextHandle context, nint stream, int* tactics, float* times, int layerCount);

    // trtn_status* trtn_context_profile(trtn_context*, void* stream, float* times_ms, int32_t layer_count);
    [LibraryImport(Library)] internal static partial nint trtn_context_profile(NativeContextHandle context, nint stream, float* times, int layerCount);

    // trtn_status* trtn_context_layer_implementation(const trtn_context*, int32_t layer, char* buffer, uint64_t size);
    [LibraryImport(Library)] internal static partial nint trtn_context_layer_implementation(NativeContextHandle context, int layer, byte* buffer, ulong size);

    // trtn_status* trtn_context_get_info(const trtn_context*, trtn_context_info* out);
    [LibraryImport(Library)] internal static partial nint trtn_context_get_info(NativeContextHandle context, ContextInfo* info);

    // trtn_status* trtn_preprocess_images(const void* pixels, const void* params, int32_t batch, int32_t height, int32_t width,
    //     int32_t src_channels, int32_t out_channels, int32_t out_dtype, int32_t out_layout, void* dst, void* stream);
    [LibraryImport(Library)] internal static partial nint trtn_preprocess_images(nint pixels, nint parameters, int batch, int height, int width,
        int srcChannels, int outChannels, int outDtype, int outLayout, nint dst, nint stream);

    // trtn_status* trtn_resize_images(const void* items, int32_t count, int32_t src_channels, int32_t out_channels,
    //     int32_t out_height, int32_t out_width, void* stream);
    [LibraryImport(Library)] internal static partial nint trtn_resize_images(nint items, int count, int srcChannels, int outChannels,
        int outHeight, int outWidth, nint stream);

    // trtn_status* trtn_jpeg_decoder_create(int32_t device, int32_t max_batch, trtn_jpeg_decoder** out);
    [LibraryImport(Library)] internal static partial nint trtn_jpeg_decoder_create(int device, int maxBatch, out nint decoder);

    // void trtn_jpeg_decoder_destroy(trtn_jpeg_decoder* decoder);
    [LibraryImport(Library)] internal static partial void trtn_jpeg_decoder_destroy(nint decoder);

    // int32_t trtn_jpeg_decoder_is_hardware(const trtn_jpeg_decoder* decoder);
    [LibraryImport(Library)] internal static partial int trtn_jpeg_decoder_is_hardware(NativeJpegDecoderHandle decoder);

    // trtn_status* trtn_jpeg_decoder_decode(trtn_jpeg_decoder*, const void* const* data, const uint64_t* sizes, int32_t count,
    //     void* stream, trtn_jpeg_image* images);
    [LibraryImport(Library)] internal static partial nint trtn_jpeg_decoder_decode(NativeJpegDecoderHandle decoder, nint* data, ulong* sizes,
        int count, nint stream, JpegImage* images);
}

/// <summary>The one place native statuses become exceptions.</summary>
internal static class NativeStatus
{
    /// <summary>Releases <paramref name="status"/> and throws a <see cref="TrtNativeException"/> carrying its code and message when it is not success (0).</summary>
    public static void ThrowIfFailed(nint status)
    {
        if (status == 0) return;
        int code;
        string message;
        try
        {
            code = NativeMethods.trtn_status_code(status);
            message = Marshal.PtrToStringUTF8(NativeMethods.trtn_status_message(status)) ?? "(no message)";
        }
        finally
        {
            NativeMethods.trtn_status_destroy(status);
        }
        var ec = Enum.IsDefined(typeof(ErrorCode), code) ? (ErrorCode)code : ErrorCode.Internal;
        throw new TrtNativeException(ec, message);
    }
}

/// <summary>
/// Owns a trtn_engine*. Its parent is the CUDA context; it keeps the engine's weights (device memory) alive, since
/// every native context of the engine reads them. It is released once the <see cref="Runtime.Engine"/> is disposed
/// and every <see cref="NativeContextHandle"/> made from it is released, in whichever order that happens.
/// </summary>
internal sealed class NativeEngineHandle : CudaHandle
{
    private NativeEngineHandle(CudaHandle context) : base(context) { }

    internal override string Kind => "trtn_engine";

    /// <summary>Creates an empty native engine for <paramref name="device"/> that keeps <paramref name="weights"/> alive.</summary>
    public static NativeEngineHandle Create(CudaHandle context, int device, CudaHandle weights)
    {
        var h = new NativeEngineHandle(context);
        try
        {
            h.KeepAlive(weights);
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_engine_create(device, out nint engine));
            h.SetHandleValue(engine);
            return h;
        }
        catch
        {
            h.Abandon();
            throw;
        }
    }

    // trtn_engine_destroy frees host memory only (layer descriptions): no CUDA call, no current context needed.
    protected override CUresult ReleaseNative()
    {
        NativeMethods.trtn_engine_destroy(handle);
        return CUresult.CUDA_SUCCESS;
    }
}

/// <summary>
/// Owns a trtn_context*. Keeps its engine (and through it the weights and the CUDA context) and its activation
/// arena alive, so an engine or context disposed first never frees memory a live native context still addresses.
/// </summary>
internal sealed class NativeContextHandle : CudaHandle
{
    private NativeContextHandle(CudaHandle context) : base(context) { }

    internal override string Kind => "trtn_context";

    /// <summary>Creates a native context on <paramref name="engine"/> that keeps the engine and <paramref name="arena"/> alive.</summary>
    /// <exception cref="ObjectDisposedException">The engine handle was already disposed.</exception>
    public static NativeContextHandle Create(NativeEngineHandle engine, CudaHandle arena)
    {
        var h = new NativeContextHandle(engine.Parent!);
        try
        {
            h.KeepAlive(engine);
            h.KeepAlive(arena);
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_context_create(engine, out nint ctx));
            h.SetHandleValue(ctx);
            return h;
        }
        catch
        {
            h.Abandon();
            throw;
        }
    }

    // Destroying a context frees its cuDNN and cuBLASLt handles and CUDA graphs: its CUDA context must be current.
    protected override CUresult ReleaseNative()
    {
        var r = EnterParent();
        if (r != CUresult.CUDA_SUCCESS) return r;
        NativeMethods.trtn_context_destroy(handle);
        return CUresult.CUDA_SUCCESS;
    }
}

/// <summary>
/// Owns a trtn_jpeg_decoder* (nvJPEG handles and the decoded images' device memory). Its parent is the CUDA context,
/// which must be current when it is destroyed.
/// </summary>
internal sealed class NativeJpegDecoderHandle : CudaHandle
{
    private NativeJpegDecoderHandle(CudaHandle context) : base(context) { }

    internal override string Kind => "trtn_jpeg_decoder";

    /// <summary>Creates a decoder for batches of up to <paramref name="maxBatch"/> files on <paramref name="device"/>.</summary>
    public static NativeJpegDecoderHandle Create(CudaHandle context, int device, int maxBatch)
    {
        var h = new NativeJpegDecoderHandle(context);
        try
        {
            NativeStatus.ThrowIfFailed(NativeMethods.trtn_jpeg_decoder_create(device, maxBatch, out nint decoder));
            h.SetHandleValue(decoder);
            return h;
        }
        catch
        {
            h.Abandon();
            throw;
        }
    }

    protected override CUresult ReleaseNative()
    {
        var r = EnterParent();
        if (r != CUresult.CUDA_SUCCESS) return r;
        NativeMethods.trtn_jpeg_decoder_destroy(handle);
        return CUresult.CUDA_SUCCESS;
    }
}
