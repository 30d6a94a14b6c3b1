using System.CommandLine;
using TrtNative.Cuda;

namespace TrtNative.Sample.Commands;

/// <summary>build MODEL.onnx [--fp16|--fp32] [--profile MIN:OPT:MAX] [--workspace MiB] [--timing-cache FILE] [-o PLAN]</summary>
internal static class BuildCommand
{
    public static Command Create()
    {
        var command = new Command("build", "Build a GPU engine plan from an ONNX model (default: fp16, profile 1:8:64, written beside the model).");
        var symbols = new EngineOptions.Symbols(command, output: true);
        Cli.SetAction(command, r => Run(symbols.Bind(r)));
        return command;
    }

    public static int Run(EngineOptions o)
    {
        using var ctx = o.ReadModelThenCreateContext("build");
        if (ctx is null) return Cli.Failed;
        using var engine = o.Open(ctx, verbose: true);
        string plan = o.Output ?? System.IO.Path.ChangeExtension(o.Path, $".{TrtNative.Runtime.PrecisionNames.Name(o.Precision)}.plan");
        engine.Save(plan);
        Console.WriteLine($"wrote {plan} ({new FileInfo(plan).Length / 1048576.0:F1} MiB)");
        foreach (var i in engine.Inputs) Console.WriteLine($"  input  {i}");
        foreach (var x in engine.Outputs) Console.WriteLine($"  output {x}");
        return 0;
    }
}
