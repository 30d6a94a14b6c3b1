using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>What a shape function sees of one node: input types, shapes and constant values.</summary>
public sealed class InferenceContext
{
    private readonly ValueInfo?[] _inputs;
    private readonly Tensor?[] _constants;

    internal InferenceContext(Node node, int opset, ValueInfo?[] inputs, Tensor?[] constants)
    {
        Node = node;
        Opset = opset;
        _inputs = inputs;
        _constants = constants;
        Outputs = new ValueInfo?[node.Outputs.Count];
    }

    public Node Node { get; }
    /// <summary>The ai.onnx opset of the model.</summary>
    public int Opset { get; }
    /// <summary>Results, set through <see cref="SetOutput"/>.</summary>
    internal ValueInfo?[] Outputs { get; }

    public int InputCount => Node.Inputs.Count;
    public bool HasInput(int i) => Node.HasInput(i);

    /// <summary>Element type of input i.</summary>
    public DataType InputType(int i) => Info(i).Type;

    /// <summary>Shape of input i; throws when unknown.</summary>
    public Dim[] InputShape(int i) => Info(i).Shape ?? throw Error($"the shape of input {i} ('{Node.Input(i)}') is unknown");

    /// <summary>Rank of input i.</summary>
    public int InputRank(int i) => InputShape(i).Length;

    /// <summary>The value of input i when known at build time (an initializer, a folded constant, or a symbolic shape value).</summary>
    public Tensor? Constant(int i) => HasInput(i) ? _constants[i] : null;

    /// <summary>The value of input i, which this op needs at build time.</summary>
    public Tensor RequireConstant(int i, string role) => Constant(i)
        ?? throw Unsupported($"input {i} ('{Node.Input(i)}', the {role}) must be computable at build time; it depends on run-time data");

    /// <summary>Records output i.</summary>
    public void SetOutput(int i, DataType type, Dim[]? shape)
    {
        if (i < Outputs.Length && Node.Outputs[i].Length > 0) Outputs[i] = new ValueInfo(Node.Outputs[i], type, shape);
    }

    /// <summary>Inconsistent shapes or attributes.</summary>
    public TrtNativeException Error(string message) =>
        new(ErrorCode.ShapeMismatch, $"node '{Node.Name}' ({Node.QualifiedOp}, opset {Opset}): {message}");

    /// <summary>A form of the op we do not support.</summary>
    public TrtNativeException Unsupported(string message) =>
        new(ErrorCode.Unsupported, $"node '{Node.Name}' ({Node.QualifiedOp}, opset {Opset}): {message}");

    private ValueInfo Info(int i)
    {
        if (!HasInput(i)) throw Error($"input {i} is missing");
        return _inputs[i] ?? throw Error($"input {i} ('{Node.Input(i)}') has no known type");
    }
}

/// <summary>What a reference kernel sees of one node: concrete input tensors; it sets the outputs.</summary>
public sealed class KernelContext
{
    private readonly Tensor?[] _inputs;

    public KernelContext(Node node, int opset, Tensor?[] inputs, IReadOnlyDictionary<string, long>? bindings = null)
    {
        Node = node;
        Opset = opset;
        _inputs = inputs;
        Bindings = bindings;
        Outputs = new Tensor?[node.Outputs.Count];
    }

    public Node Node { get; }
    public int Opset { get; }
    /// <summary>Values of symbolic dimensions for this run (batch = 8).</summary>
    public IReadOnlyDictionary<string, long>? Bindings { get; }
    public Tensor?[] Outputs { get; }

    public int InputCount => Node.Inputs.Count;
    public int OutputCount => Node.Outputs.Count;
    public bool HasInput(int i) => Node.HasInput(i) && _inputs[i] is not null;

    /// <summary>Input i, made concrete (symbolic shape values resolved with <see cref="Bindings"/>).</summary>
    public Tensor Input(int i)
    {
        var t = HasInput(i) ? _inputs[i]! : throw Error($"input {i} is missing");
        return t.IsSymbolic ? t.Resolve(Bindings) : t;
    }

    /// <summary>Input i, or null when the optional input is absent.</summary>
    public Tensor? OptionalInput(int i) => HasInput(i) ? Input(i) : null;

    /// <summary>Integer values of input i.</summary>
    public long[] InputInts(int i) => Input(i).ResolveInts(Bindings);

    /// <summary>Sets output i (ignored when the node does not produce it).</summary>
    public void SetOutput(int i, Tensor t) { if (i < Outputs.Length) Outputs[i] = t; }

    /// <summary>True when output i is wanted.</summary>
    public bool WantsOutput(int i) => i < Node.Outputs.Count && Node.Outputs[i].Length > 0;

    public TrtNativeException Error(string message) =>
        new(ErrorCode.ShapeMismatch, $"node '{Node.Name}' ({Node.QualifiedOp}, opset {Opset}): {message}");

    public TrtNativeException Unsupported(string message) =>
        new(ErrorCode.Unsupported, $"node '{Node.Name}' ({Node.QualifiedOp}, opset {Opset}): {message}");
}
