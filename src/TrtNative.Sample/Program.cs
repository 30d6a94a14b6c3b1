using TrtNative;
using TrtNative.Sample.Commands;

// TrtNative.Sample: build, inspect, run and benchmark engines. Each command lives in Commands/.
var commands = new Dictionary<string, (string Usage, Func<string[], int> Run)>(StringComparer.Ordinal)
{
    ["inspect"] = ("inspect MODEL.onnx\n      inputs, outputs, op counts, what the passes fused, and the optimized graph", InspectCommand.Run),
    ["conformance"] = ("conformance DIR [--filter TEXT]\n      run ONNX backend node tests through import, passes and the reference executor", ConformanceCommand.Run),
    ["build"] = ("build MODEL.onnx [--fp16|--fp32] [--profile MIN:OPT:MAX] [--workspace MiB] [--timing-cache FILE] [-o PLAN]\n      build a GPU engine plan (default: fp16, profile 1:8:64, beside the model)", BuildCommand.Run),
    ["run"] = ("run PLAN|MODEL.onnx [--batch N] [--fp16|--fp32] [--seed S]\n      run an engine on random inputs and print the top-5 of each item", RunCommand.Run),
    ["bench"] = ("bench PLAN|MODEL.onnx [--fp16|--fp32] [--profile MIN:OPT:MAX] [--batch N,N..] [--warmup N] [--iters N] [--no-graph] [--layers]\n      latency and throughput with CUDA events (median after warm-up); --layers: time per layer and per kind", BenchCommand.Run),
    ["loadgen"] = (LoadgenCommand.Usage, LoadgenCommand.Run),
};

if (args.Length == 0 || !commands.TryGetValue(args[0], out var command))
{
    Console.Error.WriteLine("usage: TrtNative.Sample COMMAND ...");
    foreach (var (_, c) in commands) Console.Error.WriteLine("  " + c.Usage);
    return args.Length == 0 || args[0] is "-h" or "--help" or "help" ? 0 : 2;
}

if (args.Skip(1).Any(a => a is "-h" or "--help"))
{
    Console.WriteLine("usage: TrtNative.Sample " + command.Usage);
    return 0;
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
