using TrtNative.Ir;

namespace TrtNative.Passes;

/// <summary>Small graph edits shared by the passes (they work on a clone the pass owns).</summary>
internal static class GraphEdit
{
    /// <summary>The initializer named <paramref name="name"/>, or null when the value is not a constant.</summary>
    public static Tensor? Constant(Graph g, string name) =>
        name.Length > 0 && g.Initializers.TryGetValue(name, out var t) ? t : null;

    /// <summary>A constant float tensor (not a symbolic shape value), or null.</summary>
    public static Tensor? FloatConstant(Graph g, string name) => Constant(g, name) is { Floats: not null } t ? t : null;

    /// <summary>True when the value is a graph input.</summary>
    public static bool IsInput(Graph g, string name) => g.Inputs.Any(i => i.Name == name);

    /// <summary>Makes every node that reads <paramref name="from"/> read <paramref name="to"/> instead.</summary>
    public static void ReplaceUses(Graph g, string from, string to)
    {
        foreach (var n in g.Nodes)
            for (int i = 0; i < n.Inputs.Count; i++)
                if (n.Inputs[i] == from) n.Inputs[i] = to;
    }

    /// <summary>
    /// True when <paramref name="value"/> is read by exactly one input of one node (<paramref name="reader"/>, when
    /// given) and is not a graph output: an intermediate a fusion may swallow.
    /// </summary>
    public static bool OnlyFeeds(Graph g, Dictionary<string, List<Node>> consumers, string value, Node? reader = null)
    {
        if (g.IsOutput(value)) return false;
        if (!consumers.TryGetValue(value, out var readers) || readers.Count != 1) return false;
        return reader is null || ReferenceEquals(readers[0], reader);
    }

    /// <summary>
    /// Removes <paramref name="node"/>, whose output <paramref name="output"/> always equals its input
    /// <paramref name="input"/>, by making readers of the output read the input. When the output is a graph output
    /// its name must survive: then the input's producer is made to write the output name instead (or, for a
    /// constant input, the output becomes an initializer). Returns false (graph unchanged) when neither is possible:
    /// the input is a graph input or is itself a graph output.
    /// </summary>
    public static bool Bypass(Graph g, Node node, string input, string output)
    {
        if (input == output) return false;
        if (!g.IsOutput(output))
        {
            g.Nodes.Remove(node);
            ReplaceUses(g, output, input);
            return true;
        }
        if (g.Initializers.TryGetValue(input, out var constant))
        {
            g.Nodes.Remove(node);
            g.Initializers[output] = constant;
            return true;
        }
        if (g.IsOutput(input) || IsInput(g, input)) return false;
        var producer = g.Nodes.FirstOrDefault(n => n.Outputs.Contains(input));
        if (producer is null) return false;
        g.Nodes.Remove(node);
        for (int k = 0; k < producer.Outputs.Count; k++) if (producer.Outputs[k] == input) producer.Outputs[k] = output;
        ReplaceUses(g, input, output);
        if (g.Values.TryGetValue(input, out var info)) g.Values[output] = info with { Name = output };
        return true;
    }

    /// <summary>A value name not yet used in the graph, derived from <paramref name="stem"/>.</summary>
    public static string FreshName(Graph g, string stem)
    {
        var used = new HashSet<string>(g.Initializers.Keys);
        foreach (var i in g.Inputs) used.Add(i.Name);
        foreach (var o in g.Outputs) used.Add(o.Name);
        foreach (var n in g.Nodes) { used.UnionWith(n.Inputs); used.UnionWith(n.Outputs); }
        if (!used.Contains(stem)) return stem;
        for (int k = 1; ; k++) if (!used.Contains($"{stem}_{k}")) return $"{stem}_{k}";
    }

    /// <summary>True when <paramref name="value"/> is computed (directly or not) from an output of <paramref name="node"/>.</summary>
    public static bool DependsOn(Graph g, string value, Node node)
    {
        var producers = g.Producers();
        var seen = new HashSet<string>();
        var stack = new Stack<string>();
        stack.Push(value);
        while (stack.Count > 0)
        {
            var v = stack.Pop();
            if (!seen.Add(v) || !producers.TryGetValue(v, out var p)) continue;
            if (ReferenceEquals(p, node)) return true;
            foreach (var i in p.Inputs) if (i.Length > 0) stack.Push(i);
        }
        return false;
    }

    /// <summary>
    /// A new floating tensor of <paramref name="type"/>; values are rounded to that type's precision, as imported
    /// fp16 / bf16 tensors hold them (stored widened to float).
    /// </summary>
    public static Tensor Floats(float[] data, long[] shape, DataType type)
    {
        if (type == DataType.Float16)
            for (int i = 0; i < data.Length; i++) data[i] = (float)(Half)data[i];
        else if (type == DataType.BFloat16)
            for (int i = 0; i < data.Length; i++)
            {
                uint bits = BitConverter.SingleToUInt32Bits(data[i]);
                if (!float.IsNaN(data[i])) bits += 0x7FFF + ((bits >> 16) & 1);   // round to nearest even
                data[i] = BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000);
            }
        return Tensor.FromFloats(data, shape, type);
    }
}
