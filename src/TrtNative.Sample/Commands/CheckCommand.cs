using System.CommandLine;
using Microsoft.ML.OnnxRuntime;
using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Runtime;

namespace TrtNative.Sample.Commands;

/// <summary>
/// check MODEL.onnx [--fp16|--fp32] [--profile MIN:OPT:MAX] [--batch N] [--sets N] [--seed S]: builds the engine and
/// runs it and ONNX Runtime (CPU) on the same fresh N(0,1) inputs; prints, per output, relative L2 error, largest
/// absolute error, non-finite values and top-1 agreement, and whether that is within the precision's budget
/// (fp32: rel L2 ≤ 1e-4; fp16: rel L2 ≤ 1e-2 and top-1 agreement on at least 63 of 64 rows), the nodes the engine
/// keeps in fp32, and for fp16 the nodes where it first diverges from fp32 (NaN/inf or rel L2 > 1e-2 node by node).
/// Exit code 0 within budget, 1 outside it (or when the engine cannot be built or run).
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var command = new Command("check", "Compare an engine built from a model with ONNX Runtime (CPU) on the same random inputs: " +
                                           "rel L2, max abs error, non-finite values and top-1 agreement per output.");
        var symbols = new EngineOptions.Symbols(command, batch: true, seed: true);
        var sets = new Option<int>("--sets") { Description = "input batches to compare", HelpName = "N", DefaultValueFactory = _ => 4 }.AtLeast(1);
        command.Add(sets);
        Cli.SetAction(command, r => Run(symbols.Bind(r), r.GetValue(sets)));
        return command;
    }

    public static int Run(EngineOptions o, int sets)
    {
        if (!o.Path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            Console.Error.WriteLine($"check: {o.Path} is not an ONNX model: check builds the engine from the model and runs the model in ONNX Runtime too");
            return Cli.Usage;
        }
        using var ctx = o.ReadModelThenCreateContext("check");
        if (ctx is null) return Cli.Failed;
        using var engine = o.Open(ctx, verbose: true);
        using var ec = engine.CreateContext();
        using var ort = new InferenceSession(o.Path);
        int seed = o.Seed >= 0 ? o.Seed : Random.Shared.Next();
        var rng = new Random(seed);
        var actual = engine.Outputs.ToDictionary(d => d.Name, _ => new List<float>());
        var reference = engine.Outputs.ToDictionary(d => d.Name, _ => new List<float>());
        var rowShapes = new Dictionary<string, long[]>();
        Dictionary<string, Tensor>? firstInputs = null;
        for (int s = 0; s < sets; s++)
        {
            var inputs = new Dictionary<string, Tensor>();
            foreach (var d in engine.Inputs)
            {
                var shape = d.Shape.Select((dim, k) => dim.IsKnown ? dim.Value : k == 0 ? o.Batches[0] : d.MaxShape[k]).ToArray();
                inputs[d.Name] = Tensor.FromFloats(RandomInputs.Normal(rng, (int)shape.Aggregate(1L, (a, b) => a * b)), shape);
            }
            firstInputs ??= inputs;
            var ours = ec.Run(inputs);
            var values = inputs.Select(kv => OrtValue.CreateTensorValueFromMemory(kv.Value.Floats!, kv.Value.Shape)).ToList();
            try
            {
                using var runOptions = new RunOptions();
                var names = engine.Outputs.Select(d => d.Name).ToArray();
                using var theirs = ort.Run(runOptions, inputs.Keys.ToArray(), values, names);
                for (int i = 0; i < names.Length; i++)
                {
                    actual[names[i]].AddRange(ours[names[i]].Floats!);
                    reference[names[i]].AddRange(theirs[i].GetTensorDataAsSpan<float>().ToArray());
                    rowShapes[names[i]] = ours[names[i]].Shape;
                }
            }
            finally
            {
                foreach (var v in values) v.Dispose();
            }
        }
        Console.WriteLine($"check: {Path.GetFileName(o.Path)} {o.Precision} against ONNX Runtime (CPU), {sets} set(s) at batch {o.Batches[0]}, seed {seed}");
        bool within = true;
        foreach (var (name, values) in actual)
        {
            var shape = (long[])rowShapes[name].Clone();
            shape[0] *= sets;
            var c = OutputComparison.Of(name, values.ToArray(), reference[name].ToArray(), shape);
            bool ok = c.WithinBudget(o.Precision);
            within &= ok;
            Console.WriteLine($"  {c} -> {(ok ? "within" : "OUTSIDE")} the {o.Precision} budget");
        }
        foreach (var k in engine.KeptInFp32) Console.WriteLine($"  kept in fp32: {k}");
        if (o.Precision != Precision.Fp32) PrintDivergence(ctx, o, engine, firstInputs!);
        return within ? Cli.Ok : Cli.Failed;
    }

    /// <summary>
    /// Where the reduced precision departs from fp32, node by node on the first set's inputs (fp16 and fp32 engines with
    /// every node output kept): the first nodes past the per-node budget or with NaN/inf, else the largest drift.
    /// </summary>
    private static void PrintDivergence(CudaContext ctx, EngineOptions o, Engine engine, Dictionary<string, Tensor> inputs)
    {
        var model = o.Model ?? TrtNative.Onnx.OnnxModel.Load(o.Path);
        var nodes = new Builder(ctx).CompareNodesWithFp32(model, o.Config(), [inputs], engine.KeptInFp32);
        var first = nodes.Where(d => d.Diverges).Take(5).ToList();
        if (first.Count == 0)
        {
            var worst = nodes.MaxBy(d => d.RelL2);
            Console.WriteLine($"  {o.Precision} against fp32 node by node: no node diverges (NaN/inf or rel L2 > 1e-2) over {nodes.Count} node outputs" +
                              (worst is null ? "" : $"; largest drift {worst}"));
            return;
        }
        Console.WriteLine($"  {o.Precision} against fp32 node by node: first of {nodes.Count(d => d.Diverges)} diverging node output(s) of {nodes.Count}:");
        foreach (var d in first) Console.WriteLine($"    {d}");
    }
}
