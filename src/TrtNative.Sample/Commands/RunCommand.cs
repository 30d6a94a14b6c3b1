using System.CommandLine;
using TrtNative.Cuda;
using TrtNative.Ir;

namespace TrtNative.Sample.Commands;

/// <summary>run PLAN|MODEL.onnx [--batch N] [--fp16] [--seed S]: runs random N(0,1)-ish inputs and prints the top-5 of each item.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var command = new Command("run", "Run an engine (a plan, or one built from a model) on random inputs and print the top-5 of each item.");
        var symbols = new EngineOptions.Symbols(command, batch: true, seed: true);
        Cli.SetAction(command, r => Run(symbols.Bind(r)));
        return command;
    }

    public static int Run(EngineOptions o)
    {
        using var ctx = o.ReadModelThenCreateContext("run");
        if (ctx is null) return Cli.Failed;
        using var engine = o.Open(ctx, verbose: true);
        using var ec = engine.CreateContext();
        var rng = new Random(o.Seed >= 0 ? o.Seed : Random.Shared.Next());
        var inputs = new Dictionary<string, Tensor>();
        foreach (var d in engine.Inputs)
        {
            var shape = d.Shape.Select((dim, k) => dim.IsKnown ? dim.Value : k == 0 ? o.Batches[0] : d.MaxShape[k]).ToArray();
            var data = new float[shape.ElementCount()];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 2 - 1);
            inputs[d.Name] = Tensor.FromFloats(data, shape);
        }
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var outputs = ec.Run(inputs);
        Console.WriteLine($"ran in {sw.Elapsed.TotalMilliseconds:F1} ms (first run: plain launches)");
        foreach (var (name, t) in outputs)
        {
            Console.WriteLine($"{name}: [{string.Join(",", t.Shape)}]");
            if (t.Rank != 2) continue;
            long classes = t.Shape[1];
            for (long b = 0; b < Math.Min(t.Shape[0], 4); b++)
            {
                var row = t.Floats!.AsSpan((int)(b * classes), (int)classes).ToArray();
                var top = row.Select((v, i) => (v, i)).OrderByDescending(p => p.v).Take(5);
                Console.WriteLine($"  item {b}: top-5 " + string.Join(" ", top.Select(p => $"{p.i}:{p.v:G4}")));
            }
        }
        return 0;
    }
}
