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
        var model = new Argument<FileInfo>("MODEL.onnx") { Description = "the ONNX model" }.AcceptExistingOnly();
        var command = new Command("inspect", "Inputs, outputs, op counts, what the passes fused, and the optimized graph of an ONNX model (no GPU needed).") { model };
        Cli.SetAction(command, r => Run(r.GetValue(model)!.FullName));
        return command;
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
