using System.Text;

namespace TrtNative.Ir;

/// <summary>Type and (possibly symbolic) shape of a value; <see cref="Shape"/> is null when unknown.</summary>
public sealed record ValueInfo(string Name, DataType Type, Dim[]? Shape)
{
    public override string ToString() => $"{Name}: {Type.OnnxName()}{Shape.Format()}";
}

/// <summary>
/// A model graph: nodes in topological order, named values, constant initializers. Passes take a graph and
/// return a new one (see <see cref="Clone"/>); <see cref="Values"/> holds the types and shapes shape inference found.
/// </summary>
public sealed class Graph
{
    /// <summary>Graph name from the model.</summary>
    public string Name { get; set; } = "graph";
    /// <summary>Runtime inputs (initializers are not listed here even if the file listed them).</summary>
    public List<ValueInfo> Inputs { get; } = new();
    /// <summary>Graph outputs, in order.</summary>
    public List<ValueInfo> Outputs { get; } = new();
    /// <summary>Nodes in topological order.</summary>
    public List<Node> Nodes { get; } = new();
    /// <summary>Constant tensors by value name.</summary>
    public Dictionary<string, Tensor> Initializers { get; } = new();
    /// <summary>Inferred type and shape of every value (filled by shape inference).</summary>
    public Dictionary<string, ValueInfo> Values { get; } = new();
    /// <summary>Opset version per domain ("" = ai.onnx).</summary>
    public Dictionary<string, long> Opsets { get; } = new();

    /// <summary>The ai.onnx opset the model was exported with.</summary>
    public int Opset => Opsets.TryGetValue("", out var v) ? (int)v : Opsets.TryGetValue("ai.onnx", out var w) ? (int)w : 1;

    /// <summary>A copy whose lists, maps and nodes can be changed without touching this one (tensors are shared: treat them as immutable).</summary>
    public Graph Clone()
    {
        var g = new Graph { Name = Name };
        g.Inputs.AddRange(Inputs);
        g.Outputs.AddRange(Outputs);
        g.Nodes.AddRange(Nodes.Select(n => n.Clone()));
        foreach (var (k, v) in Initializers) g.Initializers[k] = v;
        foreach (var (k, v) in Values) g.Values[k] = v;
        foreach (var (k, v) in Opsets) g.Opsets[k] = v;
        return g;
    }

    /// <summary>Node producing each value.</summary>
    public Dictionary<string, Node> Producers()
    {
        var d = new Dictionary<string, Node>();
        foreach (var n in Nodes) foreach (var o in n.Outputs) if (o.Length > 0) d[o] = n;
        return d;
    }

    /// <summary>Nodes reading each value (a node reading a value twice appears twice).</summary>
    public Dictionary<string, List<Node>> Consumers()
    {
        var d = new Dictionary<string, List<Node>>();
        foreach (var n in Nodes)
            foreach (var i in n.Inputs)
                if (i.Length > 0) { if (!d.TryGetValue(i, out var l)) d[i] = l = new(); l.Add(n); }
        return d;
    }

    /// <summary>True when the value is a graph output.</summary>
    public bool IsOutput(string name) => Outputs.Any(o => o.Name == name);

    /// <summary>Counts of op types, for summaries.</summary>
    public SortedDictionary<string, int> OpCounts()
    {
        var d = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in Nodes) d[n.QualifiedOp] = d.GetValueOrDefault(n.QualifiedOp) + 1;
        return d;
    }

    /// <summary>A readable, diffable text form: one line per input, initializer summary, node and output.</summary>
    public string Dump(bool includeShapes = true)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"graph {Name} (opset {Opset})");
        foreach (var i in Inputs) sb.AppendLine($"  input  {i}");
        sb.AppendLine($"  initializers: {Initializers.Count} ({Initializers.Values.Sum(t => t.Length):N0} elements)");
        foreach (var n in Nodes)
        {
            sb.Append("  ").Append(string.Join(", ", n.Outputs.Select(o => includeShapes && Values.TryGetValue(o, out var v) ? v.ToString() : o)));
            sb.Append(" = ").Append(n.QualifiedOp);
            if (n.Attributes.Count > 0)
                sb.Append('<').Append(string.Join(", ", n.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => $"{a.Key}={a.Value}"))).Append('>');
            sb.Append('(').Append(string.Join(", ", n.Inputs.Select(i => i.Length == 0 ? "_" : Initializers.ContainsKey(i) ? $"@{i}" : i))).Append(')');
            sb.Append("  # ").AppendLine(n.Name);
        }
        foreach (var o in Outputs) sb.AppendLine($"  output {(Values.TryGetValue(o.Name, out var v) ? v : o)}");
        return sb.ToString();
    }
}
