using TrtNative;
using TrtNative.Sample.Commands;

// TrtNative.Sample: build, inspect, run and benchmark engines. Each command lives in Commands/.
var commands = new Dictionary<string, (string Usage, Func<string[], int> Run)>(StringComparer.Ordinal)
{
    ["inspect"] = ("inspect MODEL.onnx              inputs, outputs, op counts and the optimized graph", InspectCommand.Run),
    ["conformance"] = ("conformance DIR                 run ONNX backend node tests through import, passes and the reference executor", ConformanceCommand.Run),
    ["build"] = ("build MODEL.onnx [options]      build a GPU engine plan", BuildCommand.Run),
    ["run"] = ("run PLAN|MODEL [options]        run an engine on inputs", RunCommand.Run),
    ["bench"] = ("bench PLAN|MODEL [options]      latency and throughput with CUDA events", BenchCommand.Run),
};

if (args.Length == 0 || !commands.TryGetValue(args[0], out var command))
{
    Console.Error.WriteLine("usage: TrtNative.Sample COMMAND ...");
    foreach (var (_, c) in commands) Console.Error.WriteLine("  " + c.Usage);
    return args.Length == 0 || args[0] is "-h" or "--help" or "help" ? 0 : 2;
}

try
{
    return command.Run(args[1..]);
}
catch (TrtNativeException e)
{
    Console.Error.WriteLine($"error ({e.Code}): {e.Message}");
    return 1;
}
