using System.Runtime.InteropServices;

namespace TrtNative.Cuda;

/// <summary>CUresult values we act on or name in messages (cuda.h numbering).</summary>
internal enum CUresult : int
{
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_DEINITIALIZED = 4,
    CUDA_ERROR_STUB_LIBRARY = 34,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_DEVICE_NOT_LICENSED = 102,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_CONTEXT_ALREADY_CURRENT = 202,
    CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_NOT_READY = 600,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_CONTEXT_IS_DESTROYED = 709,
    CUDA_ERROR_NOT_SUPPORTED = 801,
    CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803,
    CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE = 804,
    CUDA_ERROR_UNKNOWN = 999,
}

/// <summary>CUdevice_attribute values used here (cuda.h numbering).</summary>
internal enum CUdevice_attribute : int
{
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
}

/// <summary>
/// Typed CUDA driver API bindings. Handles (CUcontext, CUstream, CUevent) are pointer-sized (<see cref="nint"/>),
/// CUdeviceptr is 64-bit (<see cref="ulong"/>), CUdevice is <see cref="int"/>, size_t is <see cref="nuint"/>.
/// Every signature is blittable; every CUresult goes through <see cref="Check"/>.
/// </summary>
internal static unsafe partial class CudaDriver
{
    internal const string Library = "libcuda.so.1";

    // CUresult cuInit(unsigned int Flags);
    [LibraryImport(Library)] internal static partial CUresult cuInit(uint flags);

    // CUresult cuDriverGetVersion(int* driverVersion);
    [LibraryImport(Library)] internal static partial CUresult cuDriverGetVersion(int* driverVersion);

    // CUresult cuDeviceGetCount(int* count);
    [LibraryImport(Library)] internal static partial CUresult cuDeviceGetCount(int* count);

    // CUresult cuDeviceGet(CUdevice* device, int ordinal);
    [LibraryImport(Library)] internal static partial CUresult cuDeviceGet(int* device, int ordinal);

    // CUresult cuDeviceGetName(char* name, int len, CUdevice dev);
    [LibraryImport(Library)] internal static partial CUresult cuDeviceGetName(byte* name, int len, int dev);

    // CUresult cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, CUdevice dev);
    [LibraryImport(Library)] internal static partial CUresult cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, int dev);

    // CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice dev);
    [LibraryImport(Library)] internal static partial CUresult cuDeviceTotalMem_v2(nuint* bytes, int dev);

    // CUresult cuDevicePrimaryCtxRetain(CUcontext* pctx, CUdevice dev);
    [LibraryImport(Library)] internal static partial CUresult cuDevicePrimaryCtxRetain(nint* pctx, int dev);

    // CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev);
    [LibraryImport(Library)] internal static partial CUresult cuDevicePrimaryCtxRelease_v2(int dev);

    // CUresult cuCtxSetCurrent(CUcontext ctx);
    [LibraryImport(Library)] internal static partial CUresult cuCtxSetCurrent(nint ctx);

    // CUresult cuCtxGetCurrent(CUcontext* pctx);
    [LibraryImport(Library)] internal static partial CUresult cuCtxGetCurrent(nint* pctx);

    // CUresult cuCtxSynchronize(void);
    [LibraryImport(Library)] internal static partial CUresult cuCtxSynchronize();

    // CUresult cuMemGetInfo_v2(size_t* free, size_t* total);
    [LibraryImport(Library)] internal static partial CUresult cuMemGetInfo_v2(nuint* free, nuint* total);

    // CUresult cuMemAlloc_v2(CUdeviceptr* dptr, size_t bytesize);
    [LibraryImport(Library)] internal static partial CUresult cuMemAlloc_v2(ulong* dptr, nuint bytesize);

    // CUresult cuMemFree_v2(CUdeviceptr dptr);
    [LibraryImport(Library)] internal static partial CUresult cuMemFree_v2(ulong dptr);

    // CUresult cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N);
    [LibraryImport(Library)] internal static partial CUresult cuMemsetD8_v2(ulong dstDevice, byte uc, nuint n);

    // CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream);
    [LibraryImport(Library)] internal static partial CUresult cuMemsetD8Async(ulong dstDevice, byte uc, nuint n, nint hStream);

    // CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyHtoD_v2(ulong dstDevice, void* srcHost, nuint byteCount);

    // CUresult cuMemcpyDtoH_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyDtoH_v2(void* dstHost, ulong srcDevice, nuint byteCount);

    // CUresult cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyDtoD_v2(ulong dstDevice, ulong srcDevice, nuint byteCount);

    // CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void* srcHost, size_t ByteCount, CUstream hStream);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyHtoDAsync_v2(ulong dstDevice, void* srcHost, nuint byteCount, nint hStream);

    // CUresult cuMemcpyDtoHAsync_v2(void* dstHost, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyDtoHAsync_v2(void* dstHost, ulong srcDevice, nuint byteCount, nint hStream);

    // CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount, CUstream hStream);
    [LibraryImport(Library)] internal static partial CUresult cuMemcpyDtoDAsync_v2(ulong dstDevice, ulong srcDevice, nuint byteCount, nint hStream);

    // CUresult cuMemAllocHost_v2(void** pp, size_t bytesize);
    [LibraryImport(Library)] internal static partial CUresult cuMemAllocHost_v2(void** pp, nuint bytesize);

    // CUresult cuMemFreeHost(void* p);
    [LibraryImport(Library)] internal static partial CUresult cuMemFreeHost(void* p);

    // CUresult cuStreamCreate(CUstream* phStream, unsigned int Flags);
    [LibraryImport(Library)] internal static partial CUresult cuStreamCreate(nint* phStream, uint flags);

    // CUresult cuStreamCreateWithPriority(CUstream* phStream, unsigned int flags, int priority);
    [LibraryImport(Library)] internal static partial CUresult cuStreamCreateWithPriority(nint* phStream, uint flags, int priority);

    // CUresult cuCtxGetStreamPriorityRange(int* leastPriority, int* greatestPriority);
    [LibraryImport(Library)] internal static partial CUresult cuCtxGetStreamPriorityRange(int* leastPriority, int* greatestPriority);

    // CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags);
    [LibraryImport(Library)] internal static partial CUresult cuStreamWaitEvent(nint hStream, nint hEvent, uint flags);

    // CUresult cuStreamDestroy_v2(CUstream hStream);
    [LibraryImport(Library)] internal static partial CUresult cuStreamDestroy_v2(nint hStream);

    // CUresult cuStreamSynchronize(CUstream hStream);
    [LibraryImport(Library)] internal static partial CUresult cuStreamSynchronize(nint hStream);

    // CUresult cuEventCreate(CUevent* phEvent, unsigned int Flags);
    [LibraryImport(Library)] internal static partial CUresult cuEventCreate(nint* phEvent, uint flags);

    // CUresult cuEventRecord(CUevent hEvent, CUstream hStream);
    [LibraryImport(Library)] internal static partial CUresult cuEventRecord(nint hEvent, nint hStream);

    // CUresult cuEventSynchronize(CUevent hEvent);
    [LibraryImport(Library)] internal static partial CUresult cuEventSynchronize(nint hEvent);

    // CUresult cuEventQuery(CUevent hEvent);
    [LibraryImport(Library)] internal static partial CUresult cuEventQuery(nint hEvent);

    // CUresult cuEventElapsedTime(float* pMilliseconds, CUevent hStart, CUevent hEnd);
    [LibraryImport(Library)] internal static partial CUresult cuEventElapsedTime(float* pMilliseconds, nint hStart, nint hEnd);

    // CUresult cuEventDestroy_v2(CUevent hEvent);
    [LibraryImport(Library)] internal static partial CUresult cuEventDestroy_v2(nint hEvent);

    // CUresult cuGetErrorName(CUresult error, const char** pStr);
    [LibraryImport(Library)] internal static partial CUresult cuGetErrorName(CUresult error, byte** pStr);

    // CUresult cuGetErrorString(CUresult error, const char** pStr);
    [LibraryImport(Library)] internal static partial CUresult cuGetErrorString(CUresult error, byte** pStr);

    /// <summary>CU_STREAM_NON_BLOCKING: the stream does not synchronize with the legacy default stream.</summary>
    internal const uint CU_STREAM_NON_BLOCKING = 0x1;
    /// <summary>CU_EVENT_DEFAULT: timing enabled.</summary>
    internal const uint CU_EVENT_DEFAULT = 0x0;

    // cuEventElapsedTime_v2 (CUDA 12.8+) has the same signature and finer resolution; CUDA 13 headers map the
    // unversioned name onto it. Older drivers lack it, so it is looked up at run time, not imported.
    // CUresult cuEventElapsedTime_v2(float* pMilliseconds, CUevent hStart, CUevent hEnd);
    private static readonly Lazy<nint> s_elapsedTimeV2 = new(() =>
        NativeLibrary.TryLoad(Library, out var lib) && NativeLibrary.TryGetExport(lib, "cuEventElapsedTime_v2", out var fn) ? fn : 0);

    /// <summary>The entry point <see cref="EventElapsedTime"/> uses: "cuEventElapsedTime_v2" where the driver has it.</summary>
    internal static string ElapsedTimeEntryPoint => s_elapsedTimeV2.Value != 0 ? "cuEventElapsedTime_v2" : "cuEventElapsedTime";

    /// <summary>Elapsed time between two recorded events, through cuEventElapsedTime_v2 where available.</summary>
    internal static CUresult EventElapsedTime(float* ms, nint start, nint end)
    {
        nint v2 = s_elapsedTimeV2.Value;
        if (v2 != 0)
            return ((delegate* unmanaged<float*, nint, nint, CUresult>)v2)(ms, start, end);
        return cuEventElapsedTime(ms, start, end);
    }

    /// <summary>
    /// The one error choke point: throws <see cref="TrtNativeException"/> for any result but CUDA_SUCCESS, naming the
    /// call, the CUDA error name and its description. CUDA_ERROR_OUT_OF_MEMORY maps to
    /// <see cref="ErrorCode.OutOfMemory"/>, everything else to <see cref="ErrorCode.CudaError"/>.
    /// </summary>
    internal static void Check(CUresult result, string call, string? detail = null)
    {
        if (result == CUresult.CUDA_SUCCESS)
            return;
        throw ToException(result, call, detail);
    }

    internal static TrtNativeException ToException(CUresult result, string call, string? detail = null)
    {
        var (name, text) = Describe(result);
        var code = result == CUresult.CUDA_ERROR_OUT_OF_MEMORY ? ErrorCode.OutOfMemory : ErrorCode.CudaError;
        string where = detail is null ? call : $"{call} ({detail})";
        return new TrtNativeException(code, $"{where} failed: {name} ({(int)result}): {text}");
    }

    /// <summary>The driver's name and description of a result; falls back to our own table when the driver can't say.</summary>
    internal static (string Name, string Text) Describe(CUresult result)
    {
        string? name = null, text = null;
        try
        {
            byte* p;
            if (cuGetErrorName(result, &p) == CUresult.CUDA_SUCCESS && p != null)
                name = Marshal.PtrToStringUTF8((nint)p);
            if (cuGetErrorString(result, &p) == CUresult.CUDA_SUCCESS && p != null)
                text = Marshal.PtrToStringUTF8((nint)p);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No driver: describe from our table below.
        }
        name ??= Enum.IsDefined(result) ? result.ToString() : "CUDA_ERROR_" + (int)result;
        text ??= "no description (driver did not provide one)";
        return (name, text);
    }
}
