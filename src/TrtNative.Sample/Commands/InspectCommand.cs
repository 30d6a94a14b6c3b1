using System.CommandLine;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;

namespace TrtNative.Sample.Commands;

/// <summary>`inspect MODEL.onnx`: inputs, outputs, op counts, what the passes changed, and the optimized graph.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<FileInfo?>("MODEL.onnx") { Description = "the ONNX model", Arity = ArgumentArity.ZeroOrOne };
        var engine = new Option<FileInfo?>("--engine")
        {
            Description = "an engine plan instead: what it was built for and with, its layers, and the nodes kept in fp32 and why",
            HelpName = "PLAN",
        };
        var command = new Command("inspect", "Inputs, outputs, op counts, what the passes fused, and the optimized graph of an ONNX model; or, with --engine, a plan (no GPU needed).") { model, engine };
        command.Validators.Add(r =>
        {
            bool hasModel = r.GetValue(model) is not null, hasPlan = r.GetValue(engine) is not null;
            if (hasModel == hasPlan) r.AddError("give either MODEL.onnx or --engine PLAN");
            foreach (var f in new[] { r.GetValue(model), r.GetValue(engine) })
                if (f is not null && !f.Exists) r.AddError($"File does not exist: '{f.FullName}'.");
        });
        Cli.SetAction(command, r => r.GetValue(engine) is { } plan ? RunPlan(plan.FullName) : Run(r.GetValue(model)!.FullName));
        return command;
    }

    /// <summary>A plan's header and program, read without a GPU (the plan is verified, not loaded on a device).</summary>
    public static int RunPlan(string path)
    {
        var info = TrtNative.Runtime.Engine.Inspect(path);
        var (h, s) = (info.Header, info.Header.Settings);
        Console.WriteLine($"plan      {path}");
        Console.WriteLine($"built on  {h.GpuName} (sm {h.ComputeCapability}), driver {h.CudaDriverVersion}, cuDNN {h.CudnnVersion}, cuBLASLt {h.CublasLtVersion}");
        Console.WriteLine($"model     {h.ModelHash}");
        Console.WriteLine($"settings  {s.Canonical()}");
        Console.WriteLine("inputs");
        foreach (var (name, shape) in info.Inputs) Console.WriteLine($"  {name}: float {shape.Format()}");
        Console.WriteLine("outputs");
        foreach (var (name, shape) in info.Outputs) Console.WriteLine($"  {name}: float {shape.Format()}");
        Console.WriteLine($"layers    {info.LayerCount}, weights {info.WeightBytes / 1048576.0:F1} MiB");
        string protection = s.Precision == TrtNative.Runtime.Precision.Fp32 ? "fp32 engine"
            : !s.PrecisionProtection ? "precision protection off (pure fp16)"
            : info.KeptInFp32.Count == 0 ? "precision protection on: no node needed fp32 (pure fp16)"
            : $"precision protection on: {info.KeptInFp32.Count} node(s) kept in fp32";
        Console.WriteLine($"precision {protection}");
        foreach (var k in info.KeptInFp32) Console.WriteLine($"  kept in fp32: {k}");
        return 0;
    }

    public static int Run(string path)
    {
        var graph = OnnxImporter.Load(path);
        // Shape inference on the graph as imported: inconsistent declared shapes are reported here, before any pass.
        ShapeInference.Run(graph);

        Console.WriteLine($"model   {path}");
        Console.WriteLine($"graph   {graph.Name}, opsets {string.Join(", ", graph.Opsets.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => $"{(o.Key.Length == 0 ? "ai.onnx" : o.Key)} {o.Value}"))}");
        Console.WriteLine("inputs");
        foreach (var i in graph.Inputs) Console.WriteLine($"  {i.Name}: {i.Type.OnnxName()} {i.Shape.Format()}");
        Console.WriteLine("outputs");
        foreach (var o in graph.Outputs)
        {
            var v = graph.Values.GetValueOrDefault(o.Name) ?? o;
            Console.WriteLine($"  {o.Name}: {v.Type.OnnxName()} {v.Shape.Format()}");
        }
        Console.WriteLine($"initializers: {graph.Initializers.Count} ({graph.Initializers.Values.Sum(t => t.Length):N0} elements)");
        PrintOpCounts("ops before optimization", graph);

        var log = new PassLog();
        var optimized = Optimizer.Optimize(graph, log);
        Console.WriteLine($"passes: {log.Entries.Count} change(s)");
        foreach (var (pass, message) in log.Entries) Console.WriteLine($"  [{pass}] {message}");
        PrintOpCounts("ops after optimization", optimized);

        Console.WriteLine("optimized graph");
        Console.Write(optimized.Dump());
        return 0;
    }

    private static void PrintOpCounts(string title, Graph g)
    {
        Console.WriteLine($"{title}: {g.Nodes.Count} node(s)");
        var counts = g.OpCounts();
        int width = counts.Keys.Select(k => k.Length).DefaultIfEmpty(0).Max();
        foreach (var (op, n) in counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal))
            Console.WriteLine($"  {op.PadRight(width)}  {n,5}");
    }
}
