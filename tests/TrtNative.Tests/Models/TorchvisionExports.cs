using System.Diagnostics;
using System.Security.Cryptography;

namespace TrtNative.Tests.Models;

/// <summary>
/// ONNX exports of torchvision architectures, made by Models/export_torchvision.py with Debian's python3-torch and
/// python3-torchvision, cached under the test output directory in a folder named by the script's hash (a changed
/// script re-exports; an unchanged one is reused across runs).
/// </summary>
public static class TorchvisionExports
{
    /// <summary>What to install when no interpreter can import torch and torchvision.</summary>
    public const string InstallHint = "install the Debian packages python3-torch and python3-torchvision "
        + "(apt-get install python3-torch python3-torchvision), or point TRTNATIVE_PYTHON at a python3 that has torch and torchvision";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? _python;

    /// <summary>The exporter script as copied next to the test assembly.</summary>
    public static string ScriptPath => Path.Combine(AppContext.BaseDirectory, "Models", "export_torchvision.py");

    /// <summary>Path of the exported model, exporting it first when it is not cached. Throws with <see cref="InstallHint"/> when torch is missing.</summary>
    public static string Get(string model)
    {
        var script = ScriptPath;
        if (!File.Exists(script)) throw new FileNotFoundException($"the exporter script is not next to the test assembly: {script}");
        var hash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(script)))[..16].ToLowerInvariant();
        var dir = Path.Combine(AppContext.BaseDirectory, "torchvision-exports", hash);
        var path = Path.Combine(dir, model + ".onnx");

        Gate.Wait();
        try
        {
            if (File.Exists(path)) return path;
            Directory.CreateDirectory(dir);
            var python = FindPython();
            // A unique temporary name, renamed into place only when complete: a second test run exporting at the
            // same time never reads a half-written file.
            var tmp = Path.Combine(dir, $"{model}.{Environment.ProcessId}.{Guid.NewGuid():N}.onnx");
            var (rc, text) = RunProcess(python, [script, model, tmp], TimeSpan.FromMinutes(10));
            if (rc == 3) throw new InvalidOperationException($"{python} cannot export {model}: {InstallHint}. Script output: {text}");
            if (rc != 0 || !File.Exists(tmp))
                throw new InvalidOperationException($"exporting {model} with {python} {script} failed (exit {rc}): {Tail(text)}");
            File.Move(tmp, path, overwrite: true);
            return path;
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>
    /// $TRTNATIVE_PYTHON when set (no fallback: an explicit choice that lacks torch is an error), otherwise the first of
    /// /usr/bin/python3 (Debian's, where python3-torch installs) and python3 on PATH that imports torch and torchvision.
    /// </summary>
    private static string FindPython()
    {
        if (_python is not null) return _python;
        var tried = new List<string>();
        var chosen = Environment.GetEnvironmentVariable("TRTNATIVE_PYTHON");
        var candidates = string.IsNullOrEmpty(chosen) ? new[] { "/usr/bin/python3", "python3" } : [chosen];
        foreach (var candidate in candidates)
        {
            try
            {
                var (rc, text) = RunProcess(candidate, ["-c", "import torch, torchvision"], TimeSpan.FromMinutes(2));
                if (rc == 0) return _python = candidate;
                tried.Add($"{candidate}: {Tail(text, 200)}");
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                tried.Add($"{candidate}: {e.Message}");
            }
        }
        throw new InvalidOperationException($"no python3 with torch and torchvision was found; {InstallHint}. Tried: {string.Join("; ", tried)}");
    }

    private static (int ExitCode, string Output) RunProcess(string file, string[] args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} did not finish within {timeout.TotalMinutes} minutes");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static string Tail(string s, int n = 2000) => s.Length <= n ? s.Trim() : "…" + s[^n..].Trim();
}
