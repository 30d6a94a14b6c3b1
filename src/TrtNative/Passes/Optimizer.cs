using TrtNative.Ir;

namespace TrtNative.Passes;

/// <summary>What the passes did, one line per change, for `inspect` and build logs.</summary>
public sealed class PassLog
{
    private readonly List<(string Pass, string Message)> _entries = new();

    /// <summary>Records one change made by <paramref name="pass"/>.</summary>
    public void Note(string pass, string message) => _entries.Add((pass, message));

    /// <summary>Every change, in order.</summary>
    public IReadOnlyList<(string Pass, string Message)> Entries => _entries;
}

/// <summary>A pass: takes a graph, returns a new one (the input is not changed).</summary>
public delegate Graph GraphPass(Graph g, PassLog log);

/// <summary>The optimization pipeline: every pass in order, with shape inference refreshed at the end.</summary>
public static class Optimizer
{
    /// <summary>The passes run by <see cref="Optimize"/>, in order.</summary>
    public static readonly (string Name, GraphPass Pass)[] Pipeline =
    [
        (nameof(GraphPasses.FoldConstants), GraphPasses.FoldConstants),
        (nameof(GraphPasses.RemoveIdentities), GraphPasses.RemoveIdentities),
        (nameof(GraphPasses.FoldBatchNormIntoConv), GraphPasses.FoldBatchNormIntoConv),
        (nameof(GraphPasses.PatchifyConvAsMatMul), GraphPasses.PatchifyConvAsMatMul),
        (nameof(GraphPasses.FuseConvActivation), GraphPasses.FuseConvActivation),
        (nameof(GraphPasses.FoldScaleIntoMatMul), GraphPasses.FoldScaleIntoMatMul),
        (nameof(GraphPasses.FuseGemmActivation), GraphPasses.FuseGemmActivation),
        (nameof(GraphPasses.SplitBeforeTranspose), GraphPasses.SplitBeforeTranspose),
        (nameof(GraphPasses.FuseAttention), GraphPasses.FuseAttention),
        (nameof(GraphPasses.RemoveNoOpReshapes), GraphPasses.RemoveNoOpReshapes),
        (nameof(GraphPasses.FoldConstants) + " (again)", GraphPasses.FoldConstants),
        (nameof(GraphPasses.FuseGelu), GraphPasses.FuseGelu),
        (nameof(GraphPasses.RemoveDeadNodes), GraphPasses.RemoveDeadNodes),
    ];

    /// <summary>Runs every pass and re-infers shapes; returns the optimized graph.</summary>
    public static Graph Optimize(Graph g, PassLog? log = null)
    {
        log ??= new PassLog();
        foreach (var (_, pass) in Pipeline) g = pass(g, log);
        g = g.Clone();
        ShapeInference.Run(g);
        return g;
    }
}
