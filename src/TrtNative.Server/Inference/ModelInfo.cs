using Google.Protobuf;
using Onnx;

namespace TrtNative.Server.Inference;

/// <summary>A model input or output: name and dims (-1 where symbolic, e.g. the batch).</summary>
public sealed record TensorInfo(string Name, long[] Dims)
{
    /// <summary>Dims as text, e.g. [-1,3,224,224].</summary>
    public override string ToString() => $"{Name}[{string.Join(",", Dims)}]";
}

/// <summary>
/// The one image input and the score output of an ONNX classifier, read from the file without running it
/// (so service creation can check width/height/channels/nclasses at once, before any engine build).
/// </summary>
public sealed record ModelInfo(TensorInfo Input, TensorInfo Output, IReadOnlyList<TensorInfo> AllOutputs)
{
    /// <summary>Parses the graph's inputs (initializers excluded) and outputs; picks output "prob" or the single one.</summary>
    public static ModelInfo Read(string path)
    {
        ModelProto m;
        try
        {
            using var fs = File.OpenRead(path);
            m = ModelProto.Parser.ParseFrom(fs);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or IOException)
        {
            throw new InvalidDataException($"'{Path.GetFileName(path)}' is not a readable ONNX model: {e.Message}", e);
        }
        if (m.Graph == null) throw new InvalidDataException($"'{Path.GetFileName(path)}' has no graph");
        var inits = m.Graph.Initializer.Select(t => t.Name).ToHashSet();
        var inputs = m.Graph.Input.Where(v => !inits.Contains(v.Name)).Select(ToInfo).ToList();
        var outputs = m.Graph.Output.Select(ToInfo).ToList();
        if (inputs.Count != 1)
            throw new InvalidDataException($"the model must have exactly one image input, it has {inputs.Count}: {string.Join(", ", inputs)}");
        if (inputs[0].Dims.Length != 4)
            throw new InvalidDataException($"the model input {inputs[0]} is not 4-D NCHW");
        var outp = outputs.FirstOrDefault(o => o.Name == "prob") ?? (outputs.Count == 1 ? outputs[0] : null)
            ?? throw new InvalidDataException($"no output named 'prob' and more than one output: {string.Join(", ", outputs)}");
        long parameters = m.Graph.Initializer.Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b));
        return new ModelInfo(inputs[0], outp, outputs) { Parameters = parameters };
    }

    /// <summary>Number of weights: the elements of every initializer.</summary>
    public long Parameters { get; init; }

    private static TensorInfo ToInfo(ValueInfoProto v)
    {
        var dims = v.Type?.TensorType?.Shape?.Dim;
        if (dims == null) return new TensorInfo(v.Name, []);
        return new TensorInfo(v.Name, dims.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue > 0 ? d.DimValue : -1L).ToArray());
    }

    /// <summary>Classes per item when every non-batch output dim is known, else null.</summary>
    public int? StaticClasses
    {
        get
        {
            var d = Output.Dims;
            if (d.Length < 2 || d.Skip(1).Any(x => x < 0)) return null;
            return (int)d.Skip(1).Aggregate(1L, (a, b) => a * b);
        }
    }
}
