using Google.Protobuf;
using Onnx;
using TrtNative.Ir;
using TrtNative.Ops;
using TrtNative.Runtime;

namespace TrtNative.Onnx;

/// <summary>A model input or output as the ONNX file declares it: name and dims (-1 where not fixed, e.g. a symbolic batch).</summary>
public sealed record OnnxTensorInfo(string Name, long[] Dims)
{
    /// <summary>"input[-1,3,224,224]".</summary>
    public override string ToString() => $"{Name}[{string.Join(",", Dims)}]";
}

/// <summary>
/// An ONNX model read and parsed once: its content hash (what plan headers record), its input/output signature and
/// its imported graph. The builder, the server and the Sample all take this object, so one load is one read of the
/// file (and of its external weight files).
/// </summary>
/// <remarks>
/// The graph is imported from the already-parsed model on first use of <see cref="Graph"/> (not at load: a caller that
/// only needs the signature, such as a CPU service, never pays for the import, and import errors surface where the
/// graph is needed). <see cref="ReleaseWeights"/> lets a long-lived holder drop the weights once an engine is built.
/// </remarks>
public sealed class OnnxModel
{
    private readonly object _gate = new();
    private readonly OpRegistry? _registry;
    private ModelProto? _proto;
    private Graph? _graph;
    private bool _released;

    private OnnxModel(string path, string hash, ModelProto proto, OpRegistry? registry)
    {
        Path = path;
        ContentHash = hash;
        _proto = proto;
        _registry = registry;
        var g = proto.Graph;
        var inits = g.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        Inputs = g.Input.Where(v => !inits.Contains(v.Name)).Select(ToInfo).ToArray();
        Outputs = g.Output.Select(ToInfo).ToArray();
        Parameters = g.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b));
    }

    /// <summary>
    /// Reads <paramref name="path"/> (and its external data files) once, parses it and hashes it. Throws
    /// <see cref="ErrorCode.InvalidModel"/> when the file cannot be read, is not ONNX, has no graph or names missing
    /// external data.
    /// </summary>
    /// <param name="path">The .onnx file; external data is read relative to its directory.</param>
    /// <param name="registry">Ops the imported graph is validated against; <see cref="OpRegistry.Default"/> when null.</param>
    public static OnnxModel Load(string path, OpRegistry? registry = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        string name = System.IO.Path.GetFileName(path);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrtNativeException(ErrorCode.InvalidModel, $"'{name}' is not a readable ONNX model: {e.Message}", e);
        }
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or ArgumentException or InvalidOperationException or OverflowException)
        {
            throw new TrtNativeException(ErrorCode.InvalidModel, $"'{name}' is not a readable ONNX model: {e.Message}", e);
        }
        if (proto.Graph is null) throw new TrtNativeException(ErrorCode.InvalidModel, $"'{name}' has no graph");
        return new OnnxModel(System.IO.Path.GetFullPath(path), ModelHash.Compute(bytes, proto, path), proto, registry);
    }

    /// <summary>The model file's full path.</summary>
    public string Path { get; }

    /// <summary>SHA-256 of the file and its external data (<see cref="ModelHash.Compute(string)"/>), 64 lowercase hex digits.</summary>
    public string ContentHash { get; }

    /// <summary>The graph inputs, initializers excluded, in file order.</summary>
    public IReadOnlyList<OnnxTensorInfo> Inputs { get; }

    /// <summary>The graph outputs, in file order.</summary>
    public IReadOnlyList<OnnxTensorInfo> Outputs { get; }

    /// <summary>Number of weights: the elements of every initializer.</summary>
    public long Parameters { get; }

    /// <summary>
    /// The imported and validated graph (imported on first use, from the parse done at load; callers must not change it:
    /// the builder optimizes a copy). Throws what <see cref="OnnxImporter"/> throws for an unsupported model, and
    /// <see cref="InvalidOperationException"/> after <see cref="ReleaseWeights"/>.
    /// </summary>
    public Graph Graph
    {
        get
        {
            lock (_gate)
            {
                if (_graph is not null) return _graph;
                if (_released)
                    throw new InvalidOperationException($"the weights of '{System.IO.Path.GetFileName(Path)}' were released: load the model again");
                var proto = _proto!;
                if (proto.Graph.Node.Count == 0)
                    throw new TrtNativeException(ErrorCode.InvalidModel, $"not a valid ONNX model: graph '{proto.Graph.Name}' has no nodes");
                var g = OnnxImporter.Convert(proto, System.IO.Path.GetDirectoryName(Path));
                ModelValidator.Validate(g, _registry ?? OpRegistry.Default);
                _graph = g;
                _proto = null; // the graph holds the weights now
                return g;
            }
        }
    }

    /// <summary>
    /// Drops the parsed model and the graph (and with them the weights); hash, signature and path stay. For holders
    /// that outlive the build, such as a server service. Idempotent.
    /// </summary>
    public void ReleaseWeights()
    {
        lock (_gate)
        {
            _released = true;
            _proto = null;
            _graph = null;
        }
    }

    private static OnnxTensorInfo ToInfo(ValueInfoProto v)
    {
        var dims = v.Type?.TensorType?.Shape?.Dim;
        if (dims == null) return new OnnxTensorInfo(v.Name, []);
        return new OnnxTensorInfo(v.Name, dims.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0 ? d.DimValue : -1L).ToArray());
    }
}
