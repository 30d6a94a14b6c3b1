using TrtNative.Onnx;

namespace TrtNative.Server.Inference;

/// <summary>A model input or output: name and dims (-1 where symbolic, e.g. the batch).</summary>
public sealed record TensorInfo(string Name, long[] Dims)
{
    /// <summary>Dims as text, e.g. [-1,3,224,224].</summary>
    public override string ToString() => $"{Name}[{string.Join(",", Dims)}]";
}

/// <summary>
/// The one image input and the score output of an ONNX classifier, from the model loaded once (<see cref="Onnx"/>:
/// content hash, signature, graph) without running it, so service creation can check width/height/channels/nclasses
/// at once, before any engine build.
/// </summary>
public sealed record ModelInfo(TensorInfo Input, TensorInfo Output, IReadOnlyList<TensorInfo> AllOutputs)
{
    /// <summary>Loads the model once (<see cref="OnnxModel.Load"/>) and reads its signature; see <see cref="From"/>.</summary>
    public static ModelInfo Read(string path)
    {
        OnnxModel model;
        try
        {
            model = OnnxModel.Load(path);
        }
        catch (TrtNativeException e) when (e.Code == ErrorCode.InvalidModel)
        {
            throw new InvalidDataException(e.Message, e);
        }
        return From(model);
    }

    /// <summary>The graph's inputs (initializers excluded) and outputs; picks output "prob" or the single one.</summary>
    public static ModelInfo From(OnnxModel model)
    {
        var inputs = model.Inputs.Select(t => new TensorInfo(t.Name, t.Dims)).ToList();
        var outputs = model.Outputs.Select(t => new TensorInfo(t.Name, t.Dims)).ToList();
        if (inputs.Count != 1)
            throw new InvalidDataException($"the model must have exactly one image input, it has {inputs.Count}: {string.Join(", ", inputs)}");
        if (inputs[0].Dims.Length != 4)
            throw new InvalidDataException($"the model input {inputs[0]} is not 4-D NCHW");
        var outp = outputs.FirstOrDefault(o => o.Name == "prob") ?? (outputs.Count == 1 ? outputs[0] : null)
            ?? throw new InvalidDataException($"no output named 'prob' and more than one output: {string.Join(", ", outputs)}");
        return new ModelInfo(inputs[0], outp, outputs) { Parameters = model.Parameters, Onnx = model };
    }

    /// <summary>The model as loaded once: the GPU backend builds from it and records its content hash.</summary>
    public required OnnxModel Onnx { get; init; }

    /// <summary>Number of weights: the elements of every initializer.</summary>
    public long Parameters { get; init; }

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
