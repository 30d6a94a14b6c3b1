using TrtNative.Ir;
using TrtNative.Passes;
using TrtNative.Reference;
using Xunit;

namespace TrtNative.Tests.Passes;

/// <summary>Runs a pass and checks it: input graph untouched, same outputs as before on fresh random inputs.</summary>
internal static class PassCheck
{
    public const double Tolerance = 1e-5;

    /// <summary>Runs <paramref name="pass"/> and asserts that it left its input graph as it was.</summary>
    public static Graph Apply(GraphPass pass, Graph g, out PassLog log)
    {
        var before = Snapshot(g);
        log = new PassLog();
        var result = pass(g, log);
        Assert.NotSame(g, result);
        Assert.Equal(before, Snapshot(g));
        return result;
    }

    /// <summary>Runs <paramref name="pass"/>, asserting the input is untouched; the log is discarded.</summary>
    public static Graph Apply(GraphPass pass, Graph g) => Apply(pass, g, out _);

    private static string Snapshot(Graph g) =>
        g.Dump(includeShapes: false) + string.Join(";", g.Initializers.Keys.Order(StringComparer.Ordinal))
        + string.Join(";", g.Nodes.Select(n => n.Name + ":" + string.Join(",", n.Inputs) + "->" + string.Join(",", n.Outputs)));

    /// <summary>
    /// Runs both graphs with the reference executor on <paramref name="runs"/> sets of fresh random inputs
    /// (symbolic dimensions bound to random sizes 1..4) and asserts every output agrees: float outputs within
    /// relative L2 error <see cref="Tolerance"/> (and not all zero, so the comparison means something), integer
    /// outputs exactly.
    /// </summary>
    public static void SameOutputs(Graph before, Graph after, int runs = 3)
    {
        Assert.Equal(before.Outputs.Select(o => o.Name), after.Outputs.Select(o => o.Name));
        for (int run = 0; run < runs; run++)
        {
            var inputs = RandomInputs(before);
            var want = ReferenceExecutor.Run(before, inputs);
            var got = ReferenceExecutor.Run(after, inputs);
            foreach (var o in before.Outputs)
            {
                Tensor a = want[o.Name], b = got[o.Name];
                Assert.Equal(a.Shape, b.Shape);
                if (a.Floats is null)
                {
                    Assert.Equal(a.ResolveInts(), b.ResolveInts());
                    continue;
                }
                Assert.NotNull(b.Floats);
                double diff = 0, norm = 0;
                for (int i = 0; i < a.Floats.Length; i++)
                {
                    double d = (double)a.Floats[i] - b.Floats![i];
                    diff += d * d;
                    norm += (double)a.Floats[i] * a.Floats[i];
                }
                Assert.True(norm > 0, $"output '{o.Name}' is all zeros: the comparison would be vacuous");
                double rel = Math.Sqrt(diff / norm);
                Assert.True(rel <= Tolerance, $"output '{o.Name}': relative L2 error {rel:E3} > {Tolerance:E0} (run {run})");
            }
        }
    }

    /// <summary>Uniform [-2, 2) floats for every graph input.</summary>
    public static Dictionary<string, Tensor> RandomInputs(Graph g)
    {
        var bind = new Dictionary<string, long>();
        var inputs = new Dictionary<string, Tensor>();
        foreach (var i in g.Inputs)
        {
            var shape = i.Shape!.Select(d => d.IsKnown ? d.Value
                : d.Factor * (bind.TryGetValue(d.Symbol!, out var v) ? v : bind[d.Symbol!] = Random.Shared.Next(1, 5))).ToArray();
            var data = new float[shape.ElementCount()];
            for (int k = 0; k < data.Length; k++) data[k] = 4 * Random.Shared.NextSingle() - 2;
            inputs[i.Name] = Tensor.FromFloats(data, shape);
        }
        return inputs;
    }

    /// <summary>How many nodes of the qualified op type ("Conv", "trtnative.FusedConv") the graph has.</summary>
    public static int Count(Graph g, string op) => g.OpCounts().GetValueOrDefault(op);

    /// <summary>The only node of an op type.</summary>
    public static Node Single(Graph g, string op) => Assert.Single(g.Nodes, n => n.QualifiedOp == op);
}
