using System.Diagnostics;
using System.Runtime.InteropServices;
using TrtNative.Interop;
using Xunit;

namespace TrtNative.Tests.Interop;

/// <summary>
/// The resolver's per-file step, on throw-away shared libraries built with the system C++ compiler (Linux, like the rest of the native tests): a library whose
/// dependency is missing (as libtrtnative is without cuDNN) must be reported with the name of that dependency.
/// </summary>
public class NativeLoaderTests
{
    private static void Compile(string dir, string args)
    {
        var psi = new ProcessStartInfo("c++", args) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start c++");
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"c++ {args} failed:\n{output}");
    }

    [Fact]
    public void FileWithAMissingDependencyIsReportedWithThatDependencysName()
    {
        string dir = Directory.CreateTempSubdirectory("trtn-loader-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "dep.cpp"), "extern \"C\" int trtn_test_dep() { return 7; }\n");
            File.WriteAllText(Path.Combine(dir, "main.cpp"), "extern \"C\" int trtn_test_dep();\nextern \"C\" int trtn_test_main() { return trtn_test_dep(); }\n");
            Compile(dir, "-shared -fPIC -o libtrtn_test_dep.so dep.cpp");
            Compile(dir, "-shared -fPIC -o libtrtn_test_main.so main.cpp -L. -ltrtn_test_dep -Wl,-rpath,$ORIGIN");
            string main = Path.Combine(dir, "libtrtn_test_main.so");
            // The dependency goes before anything loaded it (a loaded one would be reused by its soname).
            File.Delete(Path.Combine(dir, "libtrtn_test_dep.so"));
            nint h = NativeLibraryLoader.TryLoadFile(main, out string outcome);
            Assert.Equal(0, h);
            Assert.Contains("found, but it does not load", outcome);
            Assert.Contains("libtrtn_test_dep.so", outcome);

            Compile(dir, "-shared -fPIC -o libtrtn_test_ok.so dep.cpp");
            nint ok = NativeLibraryLoader.TryLoadFile(Path.Combine(dir, "libtrtn_test_ok.so"), out string loaded);
            Assert.True(ok != 0, loaded);
            Assert.EndsWith("(loaded)", loaded);
            NativeLibrary.Free(ok);

            Assert.Equal(0, NativeLibraryLoader.TryLoadFile(Path.Combine(dir, "absent.so"), out string absent));
            Assert.EndsWith("(not found)", absent);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
