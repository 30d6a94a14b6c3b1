using TrtNative.Cuda;

namespace TrtNative.Server.Inference;

/// <summary>Whether a usable CUDA GPU is present (the library's probe: driver loads, cuInit succeeds, a device exists).</summary>
public static class GpuProbe
{
    /// <summary>True when a GPU can be used; <paramref name="reason"/> says what was found or why not.</summary>
    public static bool IsAvailable(out string reason)
    {
        bool ok = CudaPlatform.IsAvailable(out reason);
        if (ok && string.IsNullOrEmpty(reason)) reason = "CUDA available";
        return ok;
    }
}
