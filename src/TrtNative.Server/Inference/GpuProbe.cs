using System.Runtime.InteropServices;

namespace TrtNative.Server.Inference;

/// <summary>
/// Whether a usable CUDA GPU is present: the driver library loads, cuInit succeeds and at least one device is
/// counted (a driver library may be installed on a machine without a GPU). Interim check until
/// TrtNative.Cuda.Cuda.IsAvailable lands in the library; evaluated once per process.
/// </summary>
public static class GpuProbe
{
    private static readonly Lazy<(bool ok, string reason)> _probe = new(Probe);

    /// <summary>True when a GPU can be used; <paramref name="reason"/> says what was found.</summary>
    public static bool IsAvailable(out string reason)
    {
        var (ok, r) = _probe.Value;
        reason = r;
        return ok;
    }

    private static unsafe (bool, string) Probe()
    {
        string lib = OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1";
        if (!NativeLibrary.TryLoad(lib, out var h)) return (false, $"{lib} could not be loaded (no NVIDIA driver)");
        try
        {
            if (!NativeLibrary.TryGetExport(h, "cuInit", out var init) || !NativeLibrary.TryGetExport(h, "cuDeviceGetCount", out var count))
                return (false, $"{lib} lacks cuInit/cuDeviceGetCount");
            // CUresult cuInit(unsigned int flags); CUresult cuDeviceGetCount(int *count);
            int rc = ((delegate* unmanaged<uint, int>)init)(0);
            if (rc != 0) return (false, $"cuInit failed with CUresult {rc}{(rc == 100 ? " (no CUDA-capable device)" : "")}");
            int n = 0;
            rc = ((delegate* unmanaged<int*, int>)count)(&n);
            if (rc != 0 || n == 0) return (false, $"no CUDA device (cuDeviceGetCount: CUresult {rc}, count {n})");
            return (true, $"{n} CUDA device(s)");
        }
        finally
        {
            // The driver stays initialised for the process; keep the library loaded (unloading after cuInit is unsafe).
        }
    }
}
