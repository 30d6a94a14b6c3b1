using System.Reflection;
using System.Runtime.InteropServices;
using TrtNative.Cuda;
using Xunit;

namespace TrtNative.Tests.Cuda;

public class CudaBindingTests
{
    private static MethodInfo[] Imports() => typeof(CudaDriver)
        .GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.DeclaredOnly)
        .Where(m => m.GetCustomAttribute<LibraryImportAttribute>() is not null)
        .ToArray();

    [Fact]
    public void EveryImportIsBlittableAndReturnsCUresult()
    {
        var imports = Imports();
        Assert.True(imports.Length >= 35, $"expected the full driver surface, found {imports.Length} imports");
        foreach (var m in imports)
        {
            Assert.Equal(CudaDriver.Library, m.GetCustomAttribute<LibraryImportAttribute>()!.LibraryName);
            Assert.Equal(typeof(CUresult), m.ReturnType);
            foreach (var p in m.GetParameters())
            {
                var t = p.ParameterType;
                bool ok = t.IsPointer || t == typeof(int) || t == typeof(uint) || t == typeof(ulong) || t == typeof(nint)
                          || t == typeof(nuint) || t == typeof(byte) || (t.IsEnum && Enum.GetUnderlyingType(t) == typeof(int));
                Assert.True(ok, $"{m.Name}({p.Name}: {t}) is not a blittable driver type");
            }
        }
    }

    [Fact]
    public void UsesTheVersionedEntryPointsWhereTheyExist()
    {
        var names = Imports().Select(m => m.Name).ToHashSet();
        string[] versioned =
        [
            "cuDeviceTotalMem_v2", "cuDevicePrimaryCtxRelease_v2", "cuMemGetInfo_v2", "cuMemAlloc_v2", "cuMemFree_v2",
            "cuMemsetD8_v2", "cuMemcpyHtoD_v2", "cuMemcpyDtoH_v2", "cuMemcpyDtoD_v2", "cuMemcpyHtoDAsync_v2",
            "cuMemcpyDtoHAsync_v2", "cuMemAllocHost_v2", "cuStreamDestroy_v2", "cuEventDestroy_v2",
        ];
        foreach (var v in versioned)
        {
            Assert.Contains(v, names);
            // The unversioned symbol is the legacy 32-bit-size ABI: it must not be imported.
            Assert.DoesNotContain(v[..^3], names);
        }
        foreach (var n in new[] { "cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName",
                     "cuDeviceGetAttribute", "cuDevicePrimaryCtxRetain", "cuCtxSetCurrent", "cuCtxGetCurrent",
                     "cuCtxSynchronize", "cuMemsetD8Async", "cuMemFreeHost", "cuStreamCreate", "cuStreamSynchronize",
                     "cuEventCreate", "cuEventRecord", "cuEventSynchronize", "cuGetErrorName", "cuGetErrorString" })
            Assert.Contains(n, names);
    }

    [Fact]
    public unsafe void DriverTypesHaveTheCAbiSizes()
    {
        Assert.Equal(4, sizeof(CUresult));          // enum CUresult
        Assert.Equal(4, sizeof(CUdevice_attribute)); // enum CUdevice_attribute
        Assert.Equal(8, sizeof(nuint));              // size_t on the 64-bit targets we ship
        Assert.Equal(8, sizeof(nint));               // CUcontext / CUstream / CUevent pointers
        Assert.Equal(2, (int)CUresult.CUDA_ERROR_OUT_OF_MEMORY);
        Assert.Equal(100, (int)CUresult.CUDA_ERROR_NO_DEVICE);
        Assert.Equal(16, (int)CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        Assert.Equal(75, (int)CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        Assert.Equal(76, (int)CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
    }

    [Fact]
    public void CheckMapsOutOfMemoryAndNamesTheCall()
    {
        CudaDriver.Check(CUresult.CUDA_SUCCESS, "cuMemAlloc_v2");

        var oom = Assert.Throws<TrtNativeException>(() => CudaDriver.Check(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAlloc_v2", "1 PiB"));
        Assert.Equal(ErrorCode.OutOfMemory, oom.Code);
        Assert.Contains("cuMemAlloc_v2 (1 PiB)", oom.Message);
        Assert.Contains("CUDA_ERROR_OUT_OF_MEMORY", oom.Message);

        var other = Assert.Throws<TrtNativeException>(() => CudaDriver.Check(CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, "cuStreamSynchronize"));
        Assert.Equal(ErrorCode.CudaError, other.Code);
        Assert.Contains("cuStreamSynchronize", other.Message);
        Assert.Contains("CUDA_ERROR_ILLEGAL_ADDRESS", other.Message);
        Assert.Contains("(700)", other.Message);

        // An unknown code still produces a message with the number.
        var unknown = Assert.Throws<TrtNativeException>(() => CudaDriver.Check((CUresult)12345, "cuX"));
        Assert.Contains("12345", unknown.Message);
    }

    [Fact]
    public void ComputeCapabilityFormats()
    {
        var cc = new ComputeCapability(9, 0);
        Assert.Equal(90, cc.Sm);
        Assert.Equal("9.0", cc.ToString());
        Assert.Equal(86, new ComputeCapability(8, 6).Sm);
    }

    [Fact]
    public void IsAvailableNeverThrowsAndGivesAReason()
    {
        bool driverLoads = NativeLibrary.TryLoad(CudaDriver.Library, out var lib);
        if (driverLoads)
            NativeLibrary.Free(lib);

        bool available = CudaPlatform.IsAvailable(out string reason);
        Assert.False(string.IsNullOrWhiteSpace(reason));
        if (!driverLoads)
        {
            // This machine (and CI): no NVIDIA driver.
            Assert.False(available);
            Assert.Equal("libcuda.so.1 not found (no NVIDIA driver)", reason);
        }
        else if (!available)
        {
            Assert.Matches("cuInit|0 devices|cuDeviceGetCount|cuDriverGetVersion", reason);
        }
        else
        {
            Assert.Contains("device(s)", reason);
        }

        if (!available)
        {
            var e = Assert.Throws<TrtNativeException>(() => CudaDevice.Count);
            Assert.Equal(ErrorCode.NoDevice, e.Code);
            Assert.Contains(reason, e.Message);
            var e2 = Assert.Throws<TrtNativeException>(() => CudaContext.Create(0));
            Assert.Equal(ErrorCode.NoDevice, e2.Code);
            // Enumeration answers "none" instead of throwing.
            Assert.Empty(CudaDevice.All());
        }
        else
        {
            Assert.Equal(CudaDevice.Count, CudaDevice.All().Count);
        }
    }
}

public class CudaPlatformProbeTests
{
    [Fact]
    public void MissingDriverLibraryIsReportedNotThrown()
    {
        var s = CudaPlatform.Probe(() => throw new DllNotFoundException("Unable to load shared library 'libcuda.so.1'"));
        Assert.False(s.Ok);
        Assert.Equal("libcuda.so.1 not found (no NVIDIA driver)", s.Reason);
    }

    [Fact]
    public void FailingCuInitIsReportedWithItsErrorName()
    {
        var s = CudaPlatform.Probe(() => CUresult.CUDA_ERROR_NO_DEVICE);
        Assert.False(s.Ok);
        Assert.StartsWith("cuInit failed: CUDA_ERROR_NO_DEVICE", s.Reason);
    }

    [Fact]
    public void UnexpectedProbeFailureIsReportedNotThrown()
    {
        var s = CudaPlatform.Probe(() => throw new InvalidOperationException("boom"));
        Assert.False(s.Ok);
        Assert.Contains("boom", s.Reason);
    }
}
