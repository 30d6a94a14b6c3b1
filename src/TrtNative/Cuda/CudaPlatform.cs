namespace TrtNative.Cuda;

/// <summary>
/// Whether the CUDA driver is usable here, and its version. (Named CudaPlatform, not Cuda, because a type called
/// Cuda inside namespace TrtNative.Cuda would be shadowed by the namespace in all code under TrtNative.)
/// </summary>
public static unsafe class CudaPlatform
{
    private static readonly Lazy<(bool Ok, string Reason, int DriverVersion, int DeviceCount)> s_state = new(() => Probe(static () => CudaDriver.cuInit(0)));

    /// <summary>
    /// True when libcuda.so.1 loads, cuInit succeeds and at least one device is present. Never throws; when false,
    /// <paramref name="reason"/> says why (e.g. "libcuda.so.1 not found (no NVIDIA driver)"). The result is cached.
    /// </summary>
    public static bool IsAvailable(out string reason)
    {
        var s = s_state.Value;
        reason = s.Reason;
        return s.Ok;
    }

    /// <summary>True when CUDA is usable (see <see cref="IsAvailable(out string)"/>).</summary>
    public static bool IsAvailable() => s_state.Value.Ok;

    /// <summary>The CUDA driver version as cuDriverGetVersion reports it (e.g. 12040 for 12.4).</summary>
    /// <exception cref="TrtNativeException"><see cref="ErrorCode.NoDevice"/> when CUDA is not available.</exception>
    public static int DriverVersion
    {
        get
        {
            EnsureAvailable();
            return s_state.Value.DriverVersion;
        }
    }

    /// <summary>The driver version as "major.minor" (e.g. "12.4").</summary>
    public static string DriverVersionString => $"{DriverVersion / 1000}.{DriverVersion % 1000 / 10}";

    /// <summary>Throws <see cref="ErrorCode.NoDevice"/> with the reason when CUDA is not usable.</summary>
    internal static void EnsureAvailable()
    {
        var s = s_state.Value;
        if (!s.Ok)
            throw new TrtNativeException(ErrorCode.NoDevice, "CUDA is not available: " + s.Reason);
    }

    internal static int DeviceCount
    {
        get
        {
            EnsureAvailable();
            return s_state.Value.DeviceCount;
        }
    }

    /// <summary>Initializes the driver through <paramref name="init"/> (a parameter so tests can simulate a missing driver).</summary>
    internal static (bool Ok, string Reason, int DriverVersion, int DeviceCount) Probe(Func<CUresult> init)
    {
        try
        {
            var r = init();
            if (r != CUresult.CUDA_SUCCESS)
            {
                var (name, text) = CudaDriver.Describe(r);
                return (false, $"cuInit failed: {name}: {text}", 0, 0);
            }
            int version = 0, count = 0;
            r = CudaDriver.cuDriverGetVersion(&version);
            if (r != CUresult.CUDA_SUCCESS)
                return (false, "cuDriverGetVersion failed: " + CudaDriver.Describe(r).Name, 0, 0);
            r = CudaDriver.cuDeviceGetCount(&count);
            if (r != CUresult.CUDA_SUCCESS)
                return (false, "cuDeviceGetCount failed: " + CudaDriver.Describe(r).Name, version, 0);
            if (count == 0)
                return (false, "the CUDA driver reports 0 devices", version, 0);
            return (true, $"CUDA driver {version / 1000}.{version % 1000 / 10}, {count} device(s)", version, count);
        }
        catch (DllNotFoundException)
        {
            return (false, $"{CudaDriver.Library} not found (no NVIDIA driver)", 0, 0);
        }
        catch (EntryPointNotFoundException e)
        {
            return (false, $"{CudaDriver.Library} lacks an entry point (driver too old?): {e.Message}", 0, 0);
        }
        catch (Exception e)
        {
            return (false, $"probing CUDA failed: {e.GetType().Name}: {e.Message}", 0, 0);
        }
    }
}
