namespace TrtNative.Ir;

/// <summary>Kinds of node attributes (ONNX's AttributeType numbering).</summary>
public enum AttributeKind { Float = 1, Int = 2, String = 3, Tensor = 4, Graph = 5, Floats = 6, Ints = 7, Strings = 8 }

/// <summary>One attribute value; only the field matching <see cref="Kind"/> is set.</summary>
public sealed record AttributeValue(AttributeKind Kind, long Int = 0, float Float = 0, string? String = null,
    long[]? Ints = null, float[]? Floats = null, string[]? Strings = null, Tensor? Tensor = null)
{
    public static AttributeValue Of(long v) => new(AttributeKind.Int, Int: v);
    public static AttributeValue Of(float v) => new(AttributeKind.Float, Float: v);
    public static AttributeValue Of(string v) => new(AttributeKind.String, String: v);
    public static AttributeValue Of(long[] v) => new(AttributeKind.Ints, Ints: v);
    public static AttributeValue Of(float[] v) => new(AttributeKind.Floats, Floats: v);
    public static AttributeValue Of(Tensor v) => new(AttributeKind.Tensor, Tensor: v);

    public override string ToString() => Kind switch
    {
        AttributeKind.Int => Int.ToString(),
        AttributeKind.Float => Float.ToString("G6"),
        AttributeKind.String => $"\"{String}\"",
        AttributeKind.Ints => "[" + string.Join(",", Ints!) + "]",
        AttributeKind.Floats => "[" + string.Join(",", Floats!.Select(f => f.ToString("G6"))) + "]",
        AttributeKind.Strings => "[" + string.Join(",", Strings!) + "]",
        AttributeKind.Tensor => Tensor!.ToString(),
        _ => Kind.ToString(),
    };
}

/// <summary>
/// An operation. Inputs and outputs are value names; an empty input name is an omitted optional input.
/// Standard ops use ONNX's op types and attribute names (domain ""); ops made by our passes live in
/// <see cref="Node.TrtNativeDomain"/>.
/// </summary>
public sealed class Node
{
    /// <summary>Domain of the fused ops our passes create.</summary>
    public const string TrtNativeDomain = "trtnative";

    public Node(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, string name = "", string domain = "")
    {
        OpType = opType;
        Inputs = inputs.ToList();
        Outputs = outputs.ToList();
        Name = name;
        Domain = domain;
    }

    /// <summary>Node name (may be empty in the file; the importer gives every node a unique one).</summary>
    public string Name { get; set; }
    /// <summary>ONNX op type, e.g. "Conv".</summary>
    public string OpType { get; set; }
    /// <summary>"" (ai.onnx) or <see cref="TrtNativeDomain"/>.</summary>
    public string Domain { get; set; }
    public List<string> Inputs { get; }
    public List<string> Outputs { get; }
    public Dictionary<string, AttributeValue> Attributes { get; } = new();

    /// <summary>Input i, or "" when absent.</summary>
    public string Input(int i) => i < Inputs.Count ? Inputs[i] : "";
    /// <summary>True when optional input i is given.</summary>
    public bool HasInput(int i) => i < Inputs.Count && Inputs[i].Length > 0;

    public bool Has(string attr) => Attributes.ContainsKey(attr);
    public long GetInt(string attr, long fallback) => Attributes.TryGetValue(attr, out var a) ? a.Int : fallback;
    public float GetFloat(string attr, float fallback) => Attributes.TryGetValue(attr, out var a) ? a.Float : fallback;
    public string GetString(string attr, string fallback) => Attributes.TryGetValue(attr, out var a) ? a.String ?? fallback : fallback;
    public long[]? GetInts(string attr) => Attributes.TryGetValue(attr, out var a) ? a.Ints : null;
    public float[]? GetFloats(string attr) => Attributes.TryGetValue(attr, out var a) ? a.Floats : null;
    public Tensor? GetTensor(string attr) => Attributes.TryGetValue(attr, out var a) ? a.Tensor : null;

    public Node Set(string attr, AttributeValue v) { Attributes[attr] = v; return this; }
    public Node Set(string attr, long v) => Set(attr, AttributeValue.Of(v));
    public Node Set(string attr, float v) => Set(attr, AttributeValue.Of(v));
    public Node Set(string attr, string v) => Set(attr, AttributeValue.Of(v));
    public Node Set(string attr, long[] v) => Set(attr, AttributeValue.Of(v));
    public Node Set(string attr, float[] v) => Set(attr, AttributeValue.Of(v));

    /// <summary>A copy with its own lists and attribute map.</summary>
    public Node Clone()
    {
        var n = new Node(OpType, Inputs, Outputs, Name, Domain);
        foreach (var (k, v) in Attributes) n.Attributes[k] = v;
        return n;
    }

    /// <summary>Full op name with domain, as used in messages: "Conv" or "trtnative.FusedConv".</summary>
    public string QualifiedOp => Domain.Length == 0 ? OpType : $"{Domain}.{OpType}";

    public override string ToString() => $"{Name}: {QualifiedOp}";
}
