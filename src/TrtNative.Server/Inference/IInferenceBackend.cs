namespace TrtNative.Server.Inference;

/// <summary>
/// One loaded model on one device: takes a host NCHW float batch, returns host scores. Created once per
/// service (see <see cref="BackendFactory"/>) and only ever called from that service's batching loop, so an
/// implementation need not be thread-safe for <see cref="Run"/>.
/// </summary>
public interface IInferenceBackend : IDisposable
{
    /// <summary>What runs the model, e.g. "onnxruntime-cpu" or "trtnative-gpu".</summary>
    string Kind { get; }

    /// <summary>Largest batch one <see cref="Run"/> accepts.</summary>
    int MaxBatchSize { get; }

    /// <summary>Scores per item (classes).</summary>
    int OutputSize { get; }

    /// <summary>Device memory this backend holds, in bytes (0 for CPU backends).</summary>
    long DeviceMemoryBytes { get; }

    /// <summary>
    /// Runs <paramref name="batch"/> items. <paramref name="input"/> is host memory, batch × C × H × W floats,
    /// valid only during the call. Returns batch × <see cref="OutputSize"/> host floats owned by the caller.
    /// </summary>
    float[] Run(ReadOnlySpan<float> input, int batch);
}

/// <summary>What a backend is asked to build for a service.</summary>
/// <param name="ModelPath">The .onnx file.</param>
/// <param name="Repository">The service repository (engine files are written there).</param>
/// <param name="Model">Input/output names and shapes read from the ONNX file.</param>
/// <param name="Channels">Image channels the service feeds.</param>
/// <param name="Height">Tensor height the service feeds.</param>
/// <param name="Width">Tensor width the service feeds.</param>
/// <param name="MaxBatchSize">Largest batch (TensorRT: the optimisation profile's max).</param>
/// <param name="DataType">"fp32" or "fp16".</param>
/// <param name="GpuId">GPU ordinal.</param>
/// <param name="MaxWorkspaceMb">Builder workspace limit in MB (0 = default).</param>
/// <param name="EngineFileName">Base name of the engine file (DeepDetect's tensorRTEngineFile).</param>
/// <param name="ReadEngine">Reuse an engine file already in the repository.</param>
/// <param name="WriteEngine">Save the built engine in the repository.</param>
/// <param name="CpuThreads">ONNX Runtime intra-op threads (0 = default).</param>
public sealed record BackendSpec(
    string ModelPath, string Repository, ModelInfo Model, int Channels, int Height, int Width, int MaxBatchSize,
    string DataType, int GpuId, int MaxWorkspaceMb, string EngineFileName, bool ReadEngine, bool WriteEngine, int CpuThreads);
