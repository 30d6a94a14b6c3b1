using System.Diagnostics;
using TrtNative.Ir;
using TrtNative.Passes;
using TrtNative.Reference;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Models;

/// <summary>What <see cref="ModelCheck.AgainstOrt"/> found: per-output errors, the graphs, timings, the outputs.</summary>
public sealed record ModelCheckResult(
    int Seed,
    Dictionary<string, double> Errors,
    Graph Imported,
    Graph Optimized,
    PassLog Log,
    Dictionary<string, Tensor> Ours,
    Dictionary<string, Tensor> Reference);

/// <summary>
/// The whole-model check: import, optimize with every pass (<see cref="Optimizer.Optimize"/>), run the reference
/// executor and ONNX Runtime on the same fresh random input, compare every output by relative L2 error.
/// </summary>
public static class ModelCheck
{
    /// <summary>The fp32 accuracy every model must reach against ONNX Runtime.</summary>
    public const double Tolerance = 1e-5;

    /// <summary>
    /// Runs the check and asserts every output's relative L2 error ≤ <see cref="Tolerance"/>. On failure the message
    /// names the model, the output, the seed, and the error of the unoptimized graph too, which tells a pass bug
    /// (unoptimized fine) from a kernel or import bug (both wrong).
    /// </summary>
    /// <param name="model">Name for messages.</param>
    /// <param name="import">Loads the model as a graph (the importer under test).</param>
    /// <param name="ort">ONNX Runtime session over the same model.</param>
    /// <param name="bindings">Values of the input's symbolic dimensions (batch), empty for fixed shapes.</param>
    /// <param name="output">Where the errors, timings and op counts are written.</param>
    /// <param name="makeInputs">Input tensors from a seed; N(0,1) for every input when null.</param>
    /// <param name="seed">Seed of the inputs (to replay a failure); a fresh one when null.</param>
    public static ModelCheckResult AgainstOrt(string model, Func<Graph> import, OrtRunner ort, IReadOnlyDictionary<string, long> bindings,
        ITestOutputHelper output, Func<Graph, int, Dictionary<string, Tensor>>? makeInputs = null, int? seed = null)
    {
        var clock = Stopwatch.StartNew();
        var imported = import();
        ShapeInference.Run(imported);
        var tImport = clock.Elapsed;

        int s = seed ?? RandomTensors.FreshSeed();
        var inputs = makeInputs is null ? RandomTensors.ForInputs(imported, bindings, s) : makeInputs(imported, s);

        clock.Restart();
        var expected = ort.Run(inputs);
        var tOrt = clock.Elapsed;

        clock.Restart();
        var log = new PassLog();
        var optimized = Optimizer.Optimize(imported, log);
        var tOptimize = clock.Elapsed;

        clock.Restart();
        var actual = ReferenceExecutor.Run(optimized, inputs);
        var tReference = clock.Elapsed;

        var errors = new Dictionary<string, double>();
        foreach (var o in imported.Outputs)
        {
            Assert.True(expected.ContainsKey(o.Name), $"{model}: ONNX Runtime produced no output '{o.Name}'");
            Assert.True(actual.TryGetValue(o.Name, out var ours), $"{model}: the optimized graph has no output '{o.Name}'");
            Assert.True(ours.Shape.SequenceEqual(expected[o.Name].Shape),
                $"{model}: output '{o.Name}' has shape {ours.Shape.Format()}, ONNX Runtime's has {expected[o.Name].Shape.Format()}");
            errors[o.Name] = RelativeL2.Of(ours, expected[o.Name]);
            // A reference output of (near) zeros would make any comparison pass: random weights left something dead.
            double rms = RelativeL2.Norm(expected[o.Name].Floats!) / Math.Sqrt(Math.Max(1, expected[o.Name].Length));
            Assert.True(rms > 1e-4, $"{model}: ONNX Runtime's output '{o.Name}' has RMS {rms:G3}: the model computes (almost) nothing, the comparison would be vacuous");
        }

        output.WriteLine($"{model}: seed {s}, inputs {string.Join(", ", inputs.Select(i => $"{i.Key}{i.Value.Shape.Format()}"))}");
        output.WriteLine($"  relative L2 error: {string.Join(", ", errors.Select(e => $"{e.Key} {e.Value:G3}"))}");
        output.WriteLine($"  times: import+infer {Ms(tImport)}, ORT {Ms(tOrt)}, optimize {Ms(tOptimize)}, reference {Ms(tReference)}");
        output.WriteLine($"  ops before: {Counts(imported)}");
        output.WriteLine($"  ops after:  {Counts(optimized)}");
        output.WriteLine($"  pass log: {log.Entries.Count} changes");

        var bad = errors.Where(e => !(e.Value <= Tolerance)).ToList();
        if (bad.Count > 0)
        {
            // Diagnose: does the unoptimized graph match ORT?
            string unopt;
            try
            {
                var plain = ReferenceExecutor.Run(imported, inputs);
                unopt = string.Join(", ", bad.Select(e => $"{e.Key} {RelativeL2.Of(plain[e.Key], expected[e.Key]):G4}"));
            }
            catch (Exception e) { unopt = $"failed to run: {e.Message}"; }
            Assert.Fail($"{model} (seed {s}): relative L2 error against ONNX Runtime exceeds {Tolerance:G3} after optimization: "
                + string.Join(", ", bad.Select(e => $"output '{e.Key}' {e.Value:G4} (‖ort‖₂ = {RelativeL2.Norm(expected[e.Key].Floats!):G4})"))
                + $"; unoptimized graph: {unopt}");
        }
        return new ModelCheckResult(s, errors, imported, optimized, log, actual, expected);
    }

    /// <summary>"Conv 20, Relu 17, ..." sorted by count.</summary>
    public static string Counts(Graph g) =>
        string.Join(", ", g.OpCounts().OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} {c.Value}"));

    /// <summary>How many nodes have op type <paramref name="op"/> (either domain).</summary>
    public static int Count(Graph g, string op) => g.Nodes.Count(n => n.OpType == op);

    /// <summary>Fused nodes of type <paramref name="op"/> (domain trtnative) with the given activation attribute.</summary>
    public static int CountFused(Graph g, string op, string? activation = null) =>
        g.Nodes.Count(n => n.Domain == Node.TrtNativeDomain && n.OpType == op
            && (activation is null || n.GetString("activation", "none") == activation));

    /// <summary>Fused convolutions that add a residual (a fourth input).</summary>
    public static int CountResidualConvs(Graph g) =>
        g.Nodes.Count(n => n.Domain == Node.TrtNativeDomain && n.OpType == "FusedConv" && n.HasInput(3));

    private static readonly HashSet<string> Fusable = ["BatchNormalization", "Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "HardSwish", "Add"];

    /// <summary>
    /// Asserts the Conv fusion contract of a CNN: no BatchNormalization left, every Conv became a FusedConv or is a
    /// plain Conv (with bias) whose output goes to no op the passes fuse (no BatchNormalization, activation or Add
    /// reads it, e.g. a projection shortcut or a linear bottleneck). Returns the number of FusedConvs.
    /// </summary>
    public static int AssertConvsFused(Graph imported, Graph opt)
    {
        Assert.Equal(0, Count(opt, "BatchNormalization"));
        int convs = Count(imported, "Conv"), fused = CountFused(opt, "FusedConv"), plain = Count(opt, "Conv");
        Assert.True(convs == fused + plain, $"{convs} Convs before optimization, {fused} FusedConv + {plain} Conv after");
        var consumers = opt.Consumers();
        var stray = opt.Nodes.Where(n => n.OpType == "Conv" && n.Domain.Length == 0
                && consumers.TryGetValue(n.Outputs[0], out var readers) && readers.Any(r => r.Domain.Length == 0 && Fusable.Contains(r.OpType)))
            .Select(n => $"{n.Name} -> {string.Join("/", consumers[n.Outputs[0]].Select(r => r.OpType))}").ToList();
        Assert.True(stray.Count == 0, $"Conv left unfused before a fusable op: {string.Join(", ", stray.Take(5))} ({stray.Count})");
        return fused;
    }

    private static string Ms(TimeSpan t) => $"{t.TotalMilliseconds:F0} ms";
}
