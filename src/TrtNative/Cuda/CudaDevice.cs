using System.Runtime.InteropServices;

namespace TrtNative.Cuda;

/// <summary>A CUDA compute capability, e.g. 9.0 for H100.</summary>
/// <param name="Major">Major version (9 for Hopper).</param>
/// <param name="Minor">Minor version.</param>
public readonly record struct ComputeCapability(int Major, int Minor)
{
    /// <summary>The SM number used for CUDA architectures, e.g. 90.</summary>
    public int Sm => Major * 10 + Minor;

    /// <summary>"major.minor".</summary>
    public override string ToString() => $"{Major}.{Minor}";
}

/// <summary>Free and total device memory of the current context's device, in bytes.</summary>
/// <param name="Free">Bytes free.</param>
/// <param name="Total">Bytes in total.</param>
public readonly record struct CudaMemoryInfo(long Free, long Total);

/// <summary>A CUDA device and its fixed properties, read once when it is obtained.</summary>
public sealed unsafe class CudaDevice
{
    private CudaDevice(int ordinal, int handle, string name, ComputeCapability cc, long totalMemory, int sms)
    {
        Ordinal = ordinal;
        Handle = handle;
        Name = name;
        ComputeCapability = cc;
        TotalMemory = totalMemory;
        MultiprocessorCount = sms;
    }

    /// <summary>Number of CUDA devices.</summary>
    /// <exception cref="TrtNativeException"><see cref="ErrorCode.NoDevice"/> when CUDA is not available.</exception>
    public static int Count => CudaPlatform.DeviceCount;

    /// <summary>Device by ordinal (0-based).</summary>
    /// <exception cref="TrtNativeException">NoDevice when CUDA is not available; InvalidArgument for a bad ordinal.</exception>
    public static CudaDevice Get(int ordinal)
    {
        int count = Count;
        if (ordinal < 0 || ordinal >= count)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"CUDA device ordinal {ordinal} is out of range: {count} device(s) present.");
        int dev;
        CudaDriver.Check(CudaDriver.cuDeviceGet(&dev, ordinal), "cuDeviceGet", $"ordinal {ordinal}");
        byte* name = stackalloc byte[256];
        CudaDriver.Check(CudaDriver.cuDeviceGetName(name, 256, dev), "cuDeviceGetName");
        int major, minor, sms;
        CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(&major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev), "cuDeviceGetAttribute", "COMPUTE_CAPABILITY_MAJOR");
        CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(&minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev), "cuDeviceGetAttribute", "COMPUTE_CAPABILITY_MINOR");
        CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(&sms, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev), "cuDeviceGetAttribute", "MULTIPROCESSOR_COUNT");
        nuint total;
        CudaDriver.Check(CudaDriver.cuDeviceTotalMem_v2(&total, dev), "cuDeviceTotalMem_v2");
        return new CudaDevice(ordinal, dev, Marshal.PtrToStringUTF8((nint)name) ?? "", new ComputeCapability(major, minor), (long)total, sms);
    }

    /// <summary>
    /// Every CUDA device of the machine in ordinal order, with its name, compute capability and memory (an empty list
    /// where CUDA is not available, instead of an exception: a caller enumerating GPUs wants "none").
    /// </summary>
    /// <exception cref="TrtNativeException">CudaError when the driver fails to describe a device it reported.</exception>
    public static IReadOnlyList<CudaDevice> All()
    {
        if (!CudaPlatform.IsAvailable(out _)) return [];
        int count = Count;
        var all = new CudaDevice[count];
        for (int i = 0; i < count; i++) all[i] = Get(i);
        return all;
    }

    /// <summary>0-based ordinal.</summary>
    public int Ordinal { get; }

    /// <summary>The CUdevice value (for interop).</summary>
    public int Handle { get; }

    /// <summary>Marketing name, e.g. "NVIDIA H100 80GB HBM3".</summary>
    public string Name { get; }

    /// <summary>Compute capability.</summary>
    public ComputeCapability ComputeCapability { get; }

    /// <summary>Total device memory in bytes.</summary>
    public long TotalMemory { get; }

    /// <summary>Number of streaming multiprocessors.</summary>
    public int MultiprocessorCount { get; }

    /// <inheritdoc/>
    public override string ToString() => $"GPU {Ordinal}: {Name} (sm_{ComputeCapability.Sm}, {MultiprocessorCount} SMs, {TotalMemory / (1024 * 1024)} MiB)";
}
