using TrtNative.Conformance;

namespace TrtNative.Sample.Commands;

/// <summary>
/// `conformance DIR [--filter SUBSTR]`: runs ONNX backend node tests through import, passes and the reference
/// executor; one line per test, then "N passed, N failed, N skipped". Exit code 0 only when nothing failed.
/// </summary>
internal static class ConformanceCommand
{
    public static int Run(string[] args)
    {
        string? dir = null, filter = null;
        for (int k = 0; k < args.Length; k++)
        {
            if (args[k] == "--filter" && k + 1 < args.Length) filter = args[++k];
            else if (!args[k].StartsWith('-') && dir is null) dir = args[k];
            else { dir = null; break; }
        }
        if (dir is null)
        {
            Console.Error.WriteLine("usage: conformance DIR [--filter SUBSTR]   (e.g. DIR = /usr/share/libonnx-testdata/data/node)");
            return 2;
        }

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
        return failed == 0 ? 0 : 1;
    }
}
