using System.CommandLine;
using System.CommandLine.Parsing;

namespace TrtNative.Sample.Commands;

/// <summary>
/// The command line: one <see cref="Command"/> per file in Commands/ (each file's <c>Create</c>), parsed with
/// System.CommandLine. Exit codes: 0 done; 1 the work failed (one line on stderr, no stack trace; set
/// TRTN_SAMPLE_STACK=1 for it); 2 the command line is wrong (what is wrong, then where the help is).
/// </summary>
internal static class Cli
{
    public const int Ok = 0, Failed = 1, Usage = 2;

    /// <summary>Every command of the Sample. A new command is one more file in Commands/ and one more line here.</summary>
    public static RootCommand CreateRoot() => new("TrtNative.Sample: inspect ONNX models, run the ONNX node tests, build GPU engines, run and benchmark them.")
    {
        InspectCommand.Create(),
        ConformanceCommand.Create(),
        BuildCommand.Create(),
        RunCommand.Create(),
        BenchCommand.Create(),
        LoadgenCommand.Create(),
        DecodeBenchCommand.Create(),
        CheckCommand.Create(),
    };

    /// <summary>Parses <paramref name="args"/>, runs the command and returns the process exit code.</summary>
    public static int Run(string[] args)
    {
        var root = CreateRoot();
        if (args is [] or ["help"]) args = ["--help"];
        var result = root.Parse(args);
        if (result.Errors.Count > 0 && result.Action is not { ClearsParseErrors: true })
        {
            foreach (var error in result.Errors) Console.Error.WriteLine("error: " + error.Message);
            var command = result.CommandResult.Command;
            Console.Error.WriteLine(command == root ? "See 'TrtNative.Sample --help'." : $"See 'TrtNative.Sample {command.Name} --help'.");
            return Usage;
        }
        return result.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>Sets <paramref name="command"/>'s action; whatever it throws becomes one line on stderr and exit code 1.</summary>
    public static void SetAction(Command command, Func<ParseResult, int> action) => command.SetAction(r =>
    {
        try
        {
            return action(r);
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e switch
            {
                TrtNativeException t => $"{command.Name}: error ({t.Code}): {t.Message}",
                IOException or UnauthorizedAccessException or InvalidDataException or FormatException => $"{command.Name}: error: {e.Message}",
                _ => $"{command.Name}: error: {e.GetType().Name}: {e.Message}",
            });
            if (Environment.GetEnvironmentVariable("TRTN_SAMPLE_STACK") == "1") Console.Error.WriteLine(e);
            return Failed;
        }
    });

    /// <summary>Adds a validator that refuses values of <paramref name="option"/> below <paramref name="min"/>.</summary>
    public static Option<T> AtLeast<T>(this Option<T> option, T min) where T : IComparable<T>
    {
        option.Validators.Add(r =>
        {
            if (Parsed<T>(r, out var v) && v.CompareTo(min) < 0) r.AddError($"{option.Name} must be at least {min}, got {v}");
        });
        return option;
    }

    /// <summary>Adds a validator that refuses values of <paramref name="option"/> above <paramref name="max"/>.</summary>
    public static Option<T> AtMost<T>(this Option<T> option, T max) where T : IComparable<T>
    {
        option.Validators.Add(r =>
        {
            if (Parsed<T>(r, out var v) && v.CompareTo(max) > 0) r.AddError($"{option.Name} must be at most {max}, got {v}");
        });
        return option;
    }

    /// <summary>
    /// Refuses, before any work, a file option whose file cannot be written: the nearest folder on its path that
    /// exists must be a writable folder (the writers create the missing ones), and the path itself no folder.
    /// </summary>
    public static Option<FileInfo?> WritableFile(this Option<FileInfo?> option)
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens is not [var t]) return;
            string full = Path.GetFullPath(t.Value);
            if (Directory.Exists(full)) { r.AddError($"{option.Name} '{t.Value}' is a directory"); return; }
            string? dir = Path.GetDirectoryName(full);
            while (dir is not null && !Directory.Exists(dir))
            {
                if (File.Exists(dir)) { r.AddError($"{option.Name} '{t.Value}': '{dir}' is a file, not a folder"); return; }
                dir = Path.GetDirectoryName(dir);
            }
            if (dir is null) return;
            string probe = Path.Combine(dir, $".trtn-write-test.{Environment.ProcessId}.{Guid.NewGuid():N}");
            try
            {
                File.WriteAllBytes(probe, []);
                File.Delete(probe);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                r.AddError($"{option.Name} '{t.Value}': cannot write in '{dir}': {e.Message}");
            }
        });
        return option;
    }

    // The option's value, false when its text does not convert ("--workspace abc"): the parser reports that itself,
    // and reading the value in a validator would throw.
    private static bool Parsed<T>(System.CommandLine.Parsing.OptionResult r, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? value)
    {
        try
        {
            value = r.GetValueOrDefault<T>();
            return value is not null;
        }
        catch (InvalidOperationException)
        {
            value = default;
            return false;
        }
    }

    /// <summary>Refuses a command line that gives more than one of <paramref name="options"/>.</summary>
    public static void OneOf(Command command, params Option[] options) => command.Validators.Add(r =>
    {
        var given = options.Where(o => r.GetResult(o) is not null).Select(o => o.Name).ToArray();
        if (given.Length > 1) r.AddError($"give one of {string.Join(", ", options.Select(o => o.Name))}, not {string.Join(" and ", given)}");
    });
}
