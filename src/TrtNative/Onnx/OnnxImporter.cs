using System.Text;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Onnx;
using TrtNative.Ir;
using TrtNative.Ops;

namespace TrtNative.Onnx;

/// <summary>
/// Reads an ONNX model into a <see cref="Graph"/> and validates it (<see cref="ModelValidator"/>): every op must be
/// supported at the model's opset, every value must be defined once, before it is read.
/// </summary>
/// <remarks>
/// Initializers that the file also lists as graph inputs are treated as constants (they are not runtime inputs).
/// Input dimensions given as dim_param become symbols, unnamed unknown dimensions get fresh symbols ("unk_0", ...).
/// Constant nodes stay nodes; their attribute tensors are converted like initializers.
/// </remarks>
public static partial class OnnxImporter
{
    /// <summary>Loads and validates the model file at <paramref name="path"/>; external data is read relative to its directory.</summary>
    /// <param name="path">Path of the .onnx file.</param>
    /// <param name="registry">Ops considered supported; <see cref="OpRegistry.Default"/> when null.</param>
    public static Graph Load(string path, OpRegistry? registry = null)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"cannot read model file '{path}': {e.Message}", e);
        }
        return Load(bytes, Path.GetDirectoryName(Path.GetFullPath(path)), registry);
    }

    /// <summary>Loads and validates a model held in memory.</summary>
    /// <param name="bytes">The serialized ModelProto.</param>
    /// <param name="baseDirectory">Where external data files are; a model with external data needs it.</param>
    /// <param name="registry">Ops considered supported; <see cref="OpRegistry.Default"/> when null.</param>
    public static Graph Load(byte[] bytes, string? baseDirectory = null, OpRegistry? registry = null)
    {
        var g = Convert(Parse(bytes), baseDirectory);
        ModelValidator.Validate(g, registry ?? OpRegistry.Default);
        return g;
    }

    /// <summary>Parses a ModelProto, turning every protobuf failure into <see cref="ErrorCode.InvalidModel"/>.</summary>
    internal static ModelProto Parse(byte[] bytes)
    {
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or ArgumentException or InvalidOperationException or OverflowException)
        {
            throw new TrtNativeException(ErrorCode.InvalidModel, $"not a valid ONNX model: {e.Message}", e);
        }
        if (model.Graph is null)
            throw new TrtNativeException(ErrorCode.InvalidModel, "not a valid ONNX model: it has no graph");
        if (model.Graph.Node.Count == 0)
            throw new TrtNativeException(ErrorCode.InvalidModel, $"not a valid ONNX model: graph '{model.Graph.Name}' has no nodes");
        return model;
    }

    /// <summary>Converts a parsed model without checking op support.</summary>
    internal static Graph Convert(ModelProto model, string? baseDirectory)
    {
        var gp = model.Graph;
        var g = new Graph { Name = gp.Name.Length > 0 ? gp.Name : "graph" };

        foreach (var op in model.OpsetImport)
        {
            var domain = op.Domain == "ai.onnx" ? "" : op.Domain;
            g.Opsets[domain] = op.Version;
        }
        if (gp.SparseInitializer.Count > 0)
            throw new TrtNativeException(ErrorCode.Unsupported, $"sparse initializer '{gp.SparseInitializer[0].Values?.Name}' is not supported");

        foreach (var init in gp.Initializer)
        {
            if (init.Name.Length == 0)
                throw new TrtNativeException(ErrorCode.InvalidModel, "an initializer has no name");
            if (g.Initializers.ContainsKey(init.Name))
                throw new TrtNativeException(ErrorCode.InvalidModel, $"initializer '{init.Name}' is defined twice");
            g.Initializers[init.Name] = OnnxTensors.FromProto(init, baseDirectory);
        }

        var symbols = new SymbolNamer(gp);
        var inputNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var vi in gp.Input)
        {
            if (!inputNames.Add(vi.Name))
                throw new TrtNativeException(ErrorCode.InvalidModel, $"graph input '{vi.Name}' is listed twice");
            // An initializer listed as an input is an overridable default in ONNX; we treat it as a constant.
            if (g.Initializers.ContainsKey(vi.Name)) continue;
            g.Inputs.Add(ConvertValueInfo(vi, $"graph input '{vi.Name}'", symbols, requireType: true));
        }
        foreach (var vi in gp.Output)
            g.Outputs.Add(ConvertValueInfo(vi, $"graph output '{vi.Name}'", symbols, requireType: false));

        var nodeNames = new HashSet<string>(StringComparer.Ordinal);
        for (int k = 0; k < gp.Node.Count; k++)
        {
            var np = gp.Node[k];
            string name = np.Name;
            if (name.Length == 0 || nodeNames.Contains(name))
            {
                string stem = name.Length == 0 ? $"{np.OpType}_{k}" : $"{name}_{k}";
                name = stem;
                for (int s = 1; nodeNames.Contains(name); s++) name = $"{stem}_{s}";
            }
            nodeNames.Add(name);
            var node = new Node(np.OpType, np.Input, np.Output, name, np.Domain == "ai.onnx" ? "" : np.Domain);
            foreach (var a in np.Attribute)
                node.Attributes[a.Name] = ConvertAttribute(a, node, baseDirectory);
            g.Nodes.Add(node);
        }
        return g;
    }

    private static Tensor ConvertTensor(TensorProto t, string what, string? baseDirectory)
    {
        try
        {
            return OnnxTensors.FromProto(t, baseDirectory);
        }
        catch (TrtNativeException e)
        {
            // Attribute tensors are often unnamed: say which node and attribute they belong to.
            throw new TrtNativeException(e.Code, $"{what}: {e.Message}", e);
        }
    }

    private static ValueInfo ConvertValueInfo(ValueInfoProto vi, string what, SymbolNamer symbols, bool requireType)
    {
        if (vi.Name.Length == 0) throw new TrtNativeException(ErrorCode.InvalidModel, $"{what} has no name");
        var tp = vi.Type;
        if (tp is null || tp.ValueCase == TypeProto.ValueOneofCase.None)
        {
            if (requireType) throw new TrtNativeException(ErrorCode.InvalidModel, $"{what} has no type");
            return new ValueInfo(vi.Name, DataType.Undefined, null);
        }
        if (tp.ValueCase != TypeProto.ValueOneofCase.TensorType)
            throw new TrtNativeException(ErrorCode.Unsupported, $"{what} is a {tp.ValueCase} value; only tensors are supported");
        var tt = tp.TensorType;
        var type = !requireType && tt.ElemType == 0 ? DataType.Undefined : OnnxTensors.ToDataType(tt.ElemType, what);
        if (tt.Shape is null) return new ValueInfo(vi.Name, type, null);
        var shape = new Dim[tt.Shape.Dim.Count];
        for (int d = 0; d < shape.Length; d++)
        {
            var dim = tt.Shape.Dim[d];
            if (dim.HasDimValue)
            {
                if (dim.DimValue < 0) throw new TrtNativeException(ErrorCode.InvalidModel, $"{what} has negative dimension {dim.DimValue} at axis {d}");
                shape[d] = Dim.Of(dim.DimValue);
            }
            else if (dim.HasDimParam && dim.DimParam.Length > 0) shape[d] = ParseDimParam(dim.DimParam);
            else shape[d] = Dim.Sym(symbols.Fresh());
        }
        return new ValueInfo(vi.Name, type, shape);
    }

    /// <summary>"batch" → batch; "197*batch" (as <see cref="OnnxExporter"/> writes factors) → 197·batch.</summary>
    private static Dim ParseDimParam(string p)
    {
        var m = FactorSymbol().Match(p);
        return m.Success ? Dim.Sym(m.Groups[2].Value, long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)) : Dim.Sym(p);
    }

    [GeneratedRegex(@"^([1-9][0-9]{0,17})\*([^*]+)$")]
    private static partial Regex FactorSymbol();

    private static AttributeValue ConvertAttribute(AttributeProto a, Node node, string? baseDirectory)
    {
        string what = $"node '{node.Name}' ({node.QualifiedOp}) attribute '{a.Name}'";
        if (a.RefAttrName.Length > 0)
            throw new TrtNativeException(ErrorCode.Unsupported, $"{what} refers to a function attribute '{a.RefAttrName}'; functions are not supported");
        return a.Type switch
        {
            AttributeProto.Types.AttributeType.Float => AttributeValue.Of(a.F),
            AttributeProto.Types.AttributeType.Int => AttributeValue.Of(a.I),
            AttributeProto.Types.AttributeType.String => AttributeValue.Of(a.S.ToStringUtf8()),
            AttributeProto.Types.AttributeType.Floats => AttributeValue.Of(a.Floats.ToArray()),
            AttributeProto.Types.AttributeType.Ints => AttributeValue.Of(a.Ints.ToArray()),
            AttributeProto.Types.AttributeType.Strings => new AttributeValue(AttributeKind.Strings, Strings: a.Strings.Select(s => s.ToStringUtf8()).ToArray()),
            AttributeProto.Types.AttributeType.Tensor => AttributeValue.Of(ConvertTensor(a.T, what, baseDirectory)),
            // Subgraphs (If, Loop, Scan) are kept as a marker only: no supported op takes one, so validation rejects the node.
            AttributeProto.Types.AttributeType.Graph => new AttributeValue(AttributeKind.Graph),
            _ => throw new TrtNativeException(ErrorCode.Unsupported, $"{what} has attribute type {a.Type}, which is not supported"),
        };
    }

    /// <summary>Makes names for unnamed unknown dimensions that clash with no dim_param of the model.</summary>
    private sealed class SymbolNamer
    {
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);
        private int _next;

        public SymbolNamer(GraphProto g)
        {
            foreach (var vi in g.Input.Concat(g.Output).Concat(g.ValueInfo))
                if (vi.Type?.TensorType?.Shape is { } s)
                    foreach (var d in s.Dim) if (d.HasDimParam) _used.Add(d.DimParam);
        }

        public string Fresh()
        {
            string s;
            do s = $"unk_{_next++}"; while (_used.Contains(s));
            _used.Add(s);
            return s;
        }
    }
}
