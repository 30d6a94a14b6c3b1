using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using TrtNative.Ir;

namespace TrtNative.Tests.Support;

/// <summary>
/// ONNX Runtime (CPU) as the outside reference: runs a model on our host <see cref="Tensor"/>s. Graph optimizations
/// are off so the result is ONNX Runtime's plain op-by-op semantics, not its own fusions.
/// </summary>
public sealed class OrtRunner : IDisposable
{
    private readonly InferenceSession _session;

    /// <summary>A session over a serialized model.</summary>
    public OrtRunner(byte[] model) => _session = new InferenceSession(model, Options());

    /// <summary>A session over a model file.</summary>
    public OrtRunner(string modelPath) => _session = new InferenceSession(modelPath, Options());

    private static SessionOptions Options() => new()
    {
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL,
        IntraOpNumThreads = Math.Min(Environment.ProcessorCount, 4),
    };

    /// <summary>Names of the model's outputs, in order.</summary>
    public IReadOnlyList<string> OutputNames => _session.OutputNames;

    /// <summary>Runs the model once; returns every output by name.</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs)
    {
        var values = new Dictionary<string, OrtValue>();
        try
        {
            foreach (var (name, t) in inputs) values[name] = ToOrt(t);
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, values, _session.OutputNames);
            var r = new Dictionary<string, Tensor>();
            int k = 0;
            foreach (var o in outputs) r[_session.OutputNames[k++]] = FromOrt(o);
            return r;
        }
        finally
        {
            foreach (var v in values.Values) v.Dispose();
        }
    }

    /// <summary>Runs a serialized model once.</summary>
    public static Dictionary<string, Tensor> Run(byte[] model, IReadOnlyDictionary<string, Tensor> inputs)
    {
        using var r = new OrtRunner(model);
        return r.Run(inputs);
    }

    /// <summary>Runs a model file once.</summary>
    public static Dictionary<string, Tensor> Run(string modelPath, IReadOnlyDictionary<string, Tensor> inputs)
    {
        using var r = new OrtRunner(modelPath);
        return r.Run(inputs);
    }

    private static OrtValue ToOrt(Tensor t) => t.Type switch
    {
        DataType.Float => OrtValue.CreateTensorValueFromMemory(t.Floats!, t.Shape),
        DataType.Int64 => OrtValue.CreateTensorValueFromMemory(t.ResolveInts(), t.Shape),
        DataType.Int32 => OrtValue.CreateTensorValueFromMemory(t.ResolveInts().Select(v => checked((int)v)).ToArray(), t.Shape),
        _ => throw new NotSupportedException($"OrtRunner feeds float32, int64 and int32 inputs, not {t.Type.OnnxName()}"),
    };

    private static Tensor FromOrt(OrtValue v)
    {
        var info = v.GetTensorTypeAndShape();
        var shape = info.Shape;
        return info.ElementDataType switch
        {
            TensorElementType.Float => Tensor.FromFloats(v.GetTensorDataAsSpan<float>().ToArray(), shape),
            TensorElementType.Int64 => Tensor.FromInts(v.GetTensorDataAsSpan<long>().ToArray(), shape),
            TensorElementType.Int32 => Tensor.FromInts(v.GetTensorDataAsSpan<int>().ToArray().Select(x => (long)x).ToArray(), shape, DataType.Int32),
            _ => throw new NotSupportedException($"OrtRunner reads float32, int64 and int32 outputs, not {info.ElementDataType}"),
        };
    }

    /// <inheritdoc/>
    public void Dispose() => _session.Dispose();
}
