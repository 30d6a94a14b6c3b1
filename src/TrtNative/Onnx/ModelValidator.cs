using TrtNative.Ir;
using TrtNative.Ops;

namespace TrtNative.Onnx;

/// <summary>
/// Structural checks of an imported graph, run by <see cref="OnnxImporter.Load(string, OpRegistry?)"/>: every op
/// is supported at the model's opset, every value name is defined exactly once, every node input is defined, and
/// nodes are in topological order (a file listing them out of order is re-sorted; a cycle is an error).
/// Shape consistency is left to <see cref="ShapeInference"/>.
/// </summary>
public static class ModelValidator
{
    /// <summary>Checks <paramref name="g"/> against <paramref name="registry"/>; throws a <see cref="TrtNativeException"/> naming the first problem.</summary>
    public static void Validate(Graph g, OpRegistry registry)
    {
        if (!g.Opsets.ContainsKey("") && g.Nodes.Any(n => n.Domain.Length == 0))
            throw new TrtNativeException(ErrorCode.InvalidModel, "the model imports no ai.onnx opset (opset_import is empty), so its ops have no defined meaning");

        // Unsupported ops first: that is the error a user can act on, whatever else is wrong.
        foreach (var node in g.Nodes) registry.Get(node, g.Opset);

        var producer = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var i in g.Inputs) producer[i.Name] = $"graph input '{i.Name}'";
        foreach (var name in g.Initializers.Keys)
            if (!producer.TryAdd(name, $"initializer '{name}'"))
                throw new TrtNativeException(ErrorCode.InvalidModel, $"value '{name}' is both a graph input and an initializer");
        foreach (var node in g.Nodes)
            foreach (var o in node.Outputs)
            {
                if (o.Length == 0) continue;
                if (producer.TryGetValue(o, out var other))
                    throw new TrtNativeException(ErrorCode.InvalidModel, $"value '{o}' is produced by node '{node.Name}' ({node.QualifiedOp}) but is already defined by {other}; value names must be unique");
                producer[o] = $"node '{node.Name}' ({node.QualifiedOp})";
            }
        foreach (var node in g.Nodes)
            foreach (var i in node.Inputs)
                if (i.Length > 0 && !producer.ContainsKey(i))
                    throw new TrtNativeException(ErrorCode.InvalidModel,
                        $"node '{node.Name}' ({node.QualifiedOp}) reads '{i}', which is not a graph input, an initializer or the output of any node");
        foreach (var o in g.Outputs)
            if (!producer.ContainsKey(o.Name))
                throw new TrtNativeException(ErrorCode.InvalidModel, $"graph output '{o.Name}' is not produced by any node, input or initializer");

        SortTopologically(g);
    }

    /// <summary>Puts nodes in topological order, keeping the file's order where it already is one.</summary>
    private static void SortTopologically(Graph g)
    {
        var ready = new HashSet<string>(g.Inputs.Select(i => i.Name).Concat(g.Initializers.Keys), StringComparer.Ordinal);
        bool Ready(Node n) => n.Inputs.All(i => i.Length == 0 || ready.Contains(i));
        if (g.Nodes.All(n => { bool ok = Ready(n); foreach (var o in n.Outputs) ready.Add(o); return ok; })) return;

        ready = new HashSet<string>(g.Inputs.Select(i => i.Name).Concat(g.Initializers.Keys), StringComparer.Ordinal);
        var pending = new List<Node>(g.Nodes);
        var sorted = new List<Node>(pending.Count);
        while (pending.Count > 0)
        {
            int k = pending.FindIndex(Ready);
            if (k < 0)
                throw new TrtNativeException(ErrorCode.InvalidModel,
                    $"the graph has a cycle through node '{pending[0].Name}' ({pending[0].QualifiedOp})");
            var n = pending[k];
            pending.RemoveAt(k);
            sorted.Add(n);
            foreach (var o in n.Outputs) if (o.Length > 0) ready.Add(o);
        }
        g.Nodes.Clear();
        g.Nodes.AddRange(sorted);
    }
}
