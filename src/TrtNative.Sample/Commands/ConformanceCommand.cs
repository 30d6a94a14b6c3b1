using System.CommandLine;
using TrtNative.Conformance;

namespace TrtNative.Sample.Commands;

/// <summary>
/// `conformance DIR [--filter SUBSTR]`: runs ONNX backend node tests through import, passes and the reference
/// executor; one line per test, then "N passed, N failed, N skipped". Exit code 0 only when nothing failed.
/// </summary>
internal static class ConformanceCommand
{
    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo>("DIR") { Description = "folder of ONNX backend node tests, e.g. /usr/share/libonnx-testdata/data/node" }.AcceptExistingOnly();
        var filter = new Option<string?>("--filter") { Description = "run only the tests whose name contains this text", HelpName = "TEXT" };
        var command = new Command("conformance", "Run ONNX backend node tests through import, passes and the reference executor (no GPU needed); exit code 1 when one fails.") { dir, filter };
        Cli.SetAction(command, r => Run(r.GetValue(dir)!.FullName, r.GetValue(filter)));
        return command;
    }

    public static int Run(string dir, string? filter)
    {
        int passed = 0, failed = 0, skipped = 0;
        foreach (var r in NodeTestRunner.RunAll(dir, filter))
        {
            Console.WriteLine(r.ToString());
            switch (r.Outcome)
            {
                case NodeTestOutcome.Passed: passed++; break;
                case NodeTestOutcome.Failed: failed++; break;
                default: skipped++; break;
            }
        }
        Console.WriteLine($"{passed} passed, {failed} failed, {skipped} skipped");
        // A folder with no node test (or a filter matching none) must not read as a conformance pass.
        if (passed + failed + skipped == 0)
        {
            Console.Error.WriteLine($"conformance: no ONNX node test (a folder holding model.onnx) in '{dir}'{(filter is null ? "" : $" matching '{filter}'")}");
            return Cli.Failed;
        }
        return failed == 0 ? Cli.Ok : Cli.Failed;
    }
}
