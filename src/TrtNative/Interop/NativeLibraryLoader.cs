using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace TrtNative.Interop;

/// <summary>
/// Finds libtrtnative and checks its ABI before first use. The import resolver is registered once, only answers
/// for "trtnative", never throws, and remembers where it looked so a load failure can say so.
/// Search order: $TRTN_NATIVE_LIBRARY (a file), runtimes/&lt;rid&gt;/native/ (where the TrtNative.Runtime.&lt;rid&gt;
/// package puts it) and the application folder (a RID-specific publish), then the system's default search
/// (the NuGet native asset folders in the app's deps.json, LD_LIBRARY_PATH). A file that is found but does not load
/// (most often: a missing CUDA, cuDNN or cuBLASLt library it depends on) is recorded with the loader's error, which
/// names the missing library.
/// </summary>
internal static class NativeLibraryLoader
{
    /// <summary>The ABI version this managed code was written against (TRTN_ABI_VERSION).</summary>
    public const int ExpectedAbiVersion = 7;

    private static readonly List<string> s_tried = new();
    private static readonly Lazy<(bool Ok, string Message)> s_state = new(Check, LazyThreadSafetyMode.ExecutionAndPublication);
    private static int s_registered;

    // A library-level module initializer is deliberate: the resolver must exist before the first import is bound.
#pragma warning disable CA2255
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register()
    {
        if (Interlocked.Exchange(ref s_registered, 1) != 0) return;
        try { NativeLibrary.SetDllImportResolver(typeof(NativeLibraryLoader).Assembly, Resolve); }
        catch (InvalidOperationException) { /* someone registered one already: default probing applies */ }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != NativeMethods.Library) return 0;
        try
        {
            foreach (var candidate in Candidates())
            {
                nint h = TryLoadFile(candidate, out string outcome);
                Note(outcome);
                if (h != 0) return h;
            }
            Note("default search (deps.json native folders, LD_LIBRARY_PATH) for libtrtnative.so");
            if (NativeLibrary.TryLoad("libtrtnative.so", assembly, path, out nint d)) return d;
        }
        catch
        {
            // A resolver must not throw; returning 0 lets the runtime report DllNotFoundException.
        }
        return 0;
    }

    private static void Note(string outcome)
    {
        lock (s_tried) if (!s_tried.Contains(outcome)) s_tried.Add(outcome);
    }

    /// <summary>
    /// Loads <paramref name="file"/> if it exists; never throws. <paramref name="outcome"/> says what happened: the
    /// path alone (not there), or the path with the loader's error when the file exists but does not load.
    /// </summary>
    internal static nint TryLoadFile(string file, out string outcome)
    {
        outcome = file + " (not found)";
        try
        {
            if (!File.Exists(file)) return 0;
            nint h = NativeLibrary.Load(file);
            outcome = file + " (loaded)";
            return h;
        }
        catch (Exception e)
        {
            // DllNotFoundException carries dlerror's text, e.g. "libcudnn.so.9: cannot open shared object file".
            outcome = $"{file} (found, but it does not load: {e.Message.ReplaceLineEndings(" ")})";
            return 0;
        }
    }

    private static IEnumerable<string> Candidates()
    {
        var env = Environment.GetEnvironmentVariable("TRTN_NATIVE_LIBRARY");
        if (!string.IsNullOrEmpty(env)) yield return Path.GetFullPath(env);
        string file = OperatingSystem.IsWindows() ? "trtnative.dll" : OperatingSystem.IsMacOS() ? "libtrtnative.dylib" : "libtrtnative.so";
        string baseDir = AppContext.BaseDirectory;
        yield return Path.Combine(baseDir, "runtimes", RuntimeInformation.RuntimeIdentifier, "native", file);
        yield return Path.Combine(baseDir, "runtimes", (OperatingSystem.IsLinux() ? "linux-" : OperatingSystem.IsWindows() ? "win-" : "osx-") + RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant(), "native", file);
        yield return Path.Combine(baseDir, file);
    }

    /// <summary>True when the library loads and its ABI matches; otherwise <paramref name="reason"/> says why.</summary>
    public static bool IsAvailable(out string reason)
    {
        var (ok, message) = s_state.Value;
        reason = message;
        return ok;
    }

    /// <summary>Throws <see cref="ErrorCode.NativeLibrary"/> with the reason unless the library is usable.</summary>
    public static void EnsureLoaded()
    {
        var (ok, message) = s_state.Value;
        if (!ok) throw new TrtNativeException(ErrorCode.NativeLibrary, message);
    }

    /// <summary>Where the resolver looked (for messages).</summary>
    public static string SearchedLocations { get { lock (s_tried) return string.Join("; ", s_tried); } }

    private static (bool, string) Check()
    {
        Register();
        int abi;
        try
        {
            abi = NativeMethods.trtn_abi_version();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return (false, $"libtrtnative could not be loaded ({e.GetType().Name}: {e.Message}). Looked in: {SearchedLocations}. " +
                           "Add the TrtNative.Runtime.linux-x64 package (runtimes/linux-x64/native/libtrtnative.so), or build native/ with cmake " +
                           "and put libtrtnative.so next to the application or name it in TRTN_NATIVE_LIBRARY. The CUDA build also needs " +
                           "the CUDA 13 runtime, cuDNN 9 and cuBLASLt installed on the system.");
        }
        if (abi != ExpectedAbiVersion)
            return (false, $"libtrtnative has ABI version {abi}, this TrtNative needs {ExpectedAbiVersion}: rebuild native/ from the same source tree");
        string? mismatch = CheckStructSizes();
        if (mismatch is not null) return (false, "libtrtnative does not match this TrtNative: " + mismatch);
        string version = Marshal.PtrToStringUTF8(NativeMethods.trtn_version()) ?? "?";
        return (true, version);
    }

    /// <summary>Null when every parameter struct has the native size, else the first difference.</summary>
    internal static string? CheckStructSizes()
    {
        foreach (var (kind, size) in Compiler.LayerKinds.All.Select(k => (k.Kind, k.ParamsSize)))
        {
            ulong native = NativeMethods.trtn_layer_params_size((int)kind);
            if (native != (ulong)size) return $"{kind} parameters are {native} bytes natively, {size} here";
        }
        return null;
    }

    /// <summary>True when the library was built with CUDA (only meaningful once loaded).</summary>
    public static bool HasCuda => NativeMethods.trtn_has_cuda() != 0;
}
