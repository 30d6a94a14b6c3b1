using TrtNative.Ir;

namespace TrtNative.Tests.Passes;

/// <summary>Builds small graphs for pass tests: inputs, random initializers, nodes; names are generated when not given.</summary>
internal sealed class GraphBuilder
{
    private readonly Graph _g = new() { Name = "test" };
    private readonly Dictionary<string, int> _counts = new();

    public GraphBuilder(int opset = 17) => _g.Opsets[""] = opset;

    /// <summary>The graph being built (outputs are added by <see cref="Build"/>).</summary>
    public Graph Graph => _g;

    /// <summary>A float input of known shape.</summary>
    public string Input(string name, params long[] shape) => Input(name, Shapes.Of(shape));

    /// <summary>A float input of possibly symbolic shape.</summary>
    public string Input(string name, Dim[] shape)
    {
        _g.Inputs.Add(new ValueInfo(name, DataType.Float, shape));
        return name;
    }

    /// <summary>A float initializer with values uniform in [lo, hi).</summary>
    public string Init(string name, long[] shape, float lo = -1, float hi = 1)
    {
        var data = new float[shape.ElementCount()];
        for (int i = 0; i < data.Length; i++) data[i] = lo + (hi - lo) * Random.Shared.NextSingle();
        _g.Initializers[name] = Tensor.FromFloats(data, shape);
        return name;
    }

    /// <summary>An initializer holding <paramref name="t"/>.</summary>
    public string Init(string name, Tensor t)
    {
        _g.Initializers[name] = t;
        return name;
    }

    /// <summary>A 1-D int64 initializer (shapes, axes).</summary>
    public string Ints(string name, params long[] values) => Init(name, Tensor.FromInts(values, [values.Length]));

    /// <summary>A scalar float initializer.</summary>
    public string Scalar(string name, float v) => Init(name, Tensor.Scalar(v));

    /// <summary>Adds a node with the given outputs (default: one output named after the node).</summary>
    public Node Node(string op, string[] inputs, string[]? outputs = null, string? name = null, string domain = "")
    {
        if (name is null)
        {
            int k = _counts.GetValueOrDefault(op) + 1;
            _counts[op] = k;
            name = $"{op.ToLowerInvariant()}{k}";
        }
        var n = new Node(op, inputs, outputs ?? [$"{name}_out"], name, domain);
        _g.Nodes.Add(n);
        return n;
    }

    /// <summary>Adds a one-output node and returns its output name.</summary>
    public string Op(string op, params string[] inputs) => Node(op, inputs).Outputs[0];

    /// <summary>Adds a one-output node, lets <paramref name="configure"/> set attributes, returns its output name.</summary>
    public string Op(string op, string[] inputs, Action<Node> configure, string? name = null)
    {
        var n = Node(op, inputs, name: name);
        configure(n);
        return n.Outputs[0];
    }

    /// <summary>Declares the graph outputs (float, shape left to inference) and returns the graph.</summary>
    public Graph Build(params string[] outputs)
    {
        foreach (var o in outputs) _g.Outputs.Add(new ValueInfo(o, DataType.Float, null));
        return _g;
    }
}
