using TrtNative.Ir;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Removes nodes none of whose outputs reach a graph output, then initializers nothing reads. Graph inputs stay
    /// (they are the engine's interface) even when unused.
    /// </summary>
    public static Graph RemoveDeadNodes(Graph g, PassLog log)
    {
        const string pass = nameof(RemoveDeadNodes);
        g = g.Clone();
        var needed = g.Outputs.Select(o => o.Name).ToHashSet();
        var live = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        for (int i = g.Nodes.Count - 1; i >= 0; i--)
        {
            var n = g.Nodes[i];
            if (!n.Outputs.Any(needed.Contains)) continue;
            live.Add(n);
            foreach (var input in n.Inputs) if (input.Length > 0) needed.Add(input);
        }
        foreach (var n in g.Nodes.Where(n => !live.Contains(n)).ToList())
        {
            g.Nodes.Remove(n);
            log.Note(pass, $"removed {n.QualifiedOp} '{n.Name}': its outputs reach no graph output");
        }
        foreach (var name in g.Initializers.Keys.Where(k => !needed.Contains(k)).ToList())
        {
            g.Initializers.Remove(name);
            g.Values.Remove(name);
            log.Note(pass, $"removed unused initializer '{name}'");
        }
        return g;
    }
}
