using System.Diagnostics;
using TrtNative.Interop;
using TrtNative.Runtime;
using TrtNative.Tests.Cuda;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Interop;

/// <summary>
/// The C ABI checked on a machine without a GPU: native/ is configured with TRTN_WITH_CUDA=OFF and built with cmake
/// into a temporary folder, then loaded through the managed resolver (TRTN_NATIVE_LIBRARY). The version handshake,
/// every parameter struct's size, and the status path (code + message, released by the choke point) must work.
/// </summary>
public class NativeAbiTests
{
    private static readonly Lazy<string> Library = new(BuildNoCudaLibrary);

    private static string BuildNoCudaLibrary()
    {
        string root = RepoRoot.Path;
        string build = Path.Combine(Path.GetTempPath(), $"trtn-native-nocuda-{Environment.ProcessId}");
        Run("cmake", $"-S \"{Path.Combine(root, "native")}\" -B \"{build}\" -DTRTN_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=Release");
        Run("cmake", $"--build \"{build}\"");
        string lib = Path.Combine(build, "libtrtnative.so");
        Assert.True(File.Exists(lib), $"cmake did not produce {lib}");
        Environment.SetEnvironmentVariable("TRTN_NATIVE_LIBRARY", lib);
        return lib;
    }

    private static void Run(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file} (cmake and a C++ compiler are needed)");
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {args} failed ({p.ExitCode}):\n{output}");
    }

    [Fact]
    public void LibraryLoadsWithMatchingAbiAndStructSizes()
    {
        _ = Library.Value;
        Assert.True(NativeLibraryLoader.IsAvailable(out string reason), reason);
        Assert.Contains("trtnative", reason);
        Assert.Equal(NativeLibraryLoader.ExpectedAbiVersion, NativeMethods.trtn_abi_version());
        Assert.Null(NativeLibraryLoader.CheckStructSizes());
        Assert.False(NativeLibraryLoader.HasCuda);
        Assert.Equal(0UL, NativeMethods.trtn_layer_params_size(999));
    }

    [Fact]
    public void NoCudaBuildReportsNoDeviceThroughTheStatusChokePoint()
    {
        _ = Library.Value;
        NativeLibraryLoader.EnsureLoaded();
        var e = Assert.Throws<TrtNativeException>(() => GpuInfo.Query());
        Assert.Equal(ErrorCode.NoDevice, e.Code);
        Assert.Contains("trtn_device_get_info", e.Message);
        Assert.Contains("no CUDA support", e.Message);
        var e2 = Assert.Throws<TrtNativeException>(() => NativeStatus.ThrowIfFailed(NativeMethods.trtn_engine_create(0, out var h)));
        Assert.Equal(ErrorCode.NoDevice, e2.Code);
        // The JPEG decoder and the resize: the same refusal, naming the call (the server then keeps the CPU path).
        var e3 = Assert.Throws<TrtNativeException>(() => NativeStatus.ThrowIfFailed(NativeMethods.trtn_jpeg_decoder_create(0, 4, out var d)));
        Assert.Equal(ErrorCode.NoDevice, e3.Code);
        Assert.Contains("trtn_jpeg_decoder_create", e3.Message);
        var e4 = Assert.Throws<TrtNativeException>(() => NativeStatus.ThrowIfFailed(NativeMethods.trtn_resize_images(0, 1, 3, 3, 4, 4, 0)));
        Assert.Contains("trtn_resize_images", e4.Message);
        // A null status is success and throws nothing.
        NativeStatus.ThrowIfFailed(0);
    }

    [Fact]
    public void FailedNativeEngineCreateGivesBackItsContextAndWeightsReferences()
    {
        _ = Library.Value;
        NativeLibraryLoader.EnsureLoaded();
        var log = new List<string>();
        var cuda = new RecordingHandle(null, log, "cuda");
        var weights = new RecordingHandle(cuda, log, "weights");
        var e = Assert.Throws<TrtNativeException>(() => NativeEngineHandle.Create(cuda, 0, weights));
        Assert.Equal(ErrorCode.NoDevice, e.Code);
        weights.Release();
        Assert.Equal(["weights"], log); // not held by the engine that was never made
        cuda.Release();
        Assert.Equal(["weights", "cuda"], log);
    }
}
