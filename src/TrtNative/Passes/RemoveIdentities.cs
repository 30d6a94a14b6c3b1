using TrtNative.Ir;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Removes Identity nodes and inference-mode Dropout nodes (mask output unused; training_mode absent or a
    /// constant false) by making their readers read the input. When the removed node wrote a graph output, the
    /// output name is kept: the input's producer writes it instead. A node that copies a graph input straight to a
    /// graph output, or one graph output to another, is kept (removing it would rename an output).
    /// </summary>
    /// <remarks>Dropout before opset 7 is treated as inference mode whatever its is_test says: the engine only runs inference.</remarks>
    public static Graph RemoveIdentities(Graph g, PassLog log)
    {
        const string pass = nameof(RemoveIdentities);
        g = g.Clone();
        foreach (var node in g.Nodes.ToList())
        {
            if (node.Domain.Length != 0 || !IsPassThrough(g, node)) continue;
            string input = node.Input(0), output = node.Outputs[0];
            if (input.Length == 0 || output.Length == 0) continue;
            string how = g.IsOutput(output) ? $"'{input}' renamed to graph output '{output}'" : $"readers of '{output}' read '{input}'";
            if (GraphEdit.Bypass(g, node, input, output))
                log.Note(pass, $"removed {node.OpType} '{node.Name}' ({how})");
            else
                log.Note(pass, $"kept {node.OpType} '{node.Name}': it copies '{input}' to graph output '{output}' and both names must stay");
        }
        return g;
    }

    private static bool IsPassThrough(Graph g, Node node)
    {
        if (node.OpType == "Identity") return node.Outputs.Count == 1;
        if (node.OpType != "Dropout") return false;
        bool maskUsed = node.Outputs.Count > 1 && node.Outputs[1].Length > 0
            && (g.IsOutput(node.Outputs[1]) || g.Nodes.Any(n => n.Inputs.Contains(node.Outputs[1])));
        if (maskUsed) return false;
        if (!node.HasInput(2)) return true;
        // training_mode given: only a constant false makes Dropout an identity.
        return GraphEdit.Constant(g, node.Input(2)) is { Ints: [0] };
    }
}
