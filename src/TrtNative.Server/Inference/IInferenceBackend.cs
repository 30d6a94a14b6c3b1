using TrtNative.Runtime;
using TrtNative.Server.Imaging;

namespace TrtNative.Server.Inference;

/// <summary>
/// One image ready for a backend: <paramref name="Pixels"/> holds height × width × channels bytes, interleaved in the
/// decoded channel order (RGB, or one grey channel), at the service's input size; <paramref name="Normalization"/>
/// says how they become tensor values. The normalisation runs where the model runs: on the CPU for ONNX Runtime, in a
/// GPU kernel for the GPU backend (a quarter of the bytes to upload).
/// </summary>
public sealed record PreparedImage(byte[] Pixels, ImageNormalization Normalization)
{
    /// <summary>
    /// An item that is already the model's input: C × H × W floats, planar (a tensor sent to the KServe API). Backends
    /// copy it as it is; <see cref="Pixels"/> is empty and <see cref="Normalization"/> unused.
    /// </summary>
    public static PreparedImage FromTensor(float[] chw, int channels) => new([], new ImageNormalization(channels)) { Tensor = chw };

    /// <summary>The model input itself (see <see cref="FromTensor"/>), or null for an image.</summary>
    public float[]? Tensor { get; private init; }

    /// <summary>
    /// An item that is still an encoded JPEG, for a backend that decodes on the GPU (<see cref="IInferenceBackend.DecodesJpeg"/>):
    /// it decodes, resizes and crops it itself, or hands it to the CPU path (<see cref="EncodedJpeg.DecodeOnCpu"/>) when its
    /// decoder refuses it. <see cref="Pixels"/> is empty; <see cref="Normalization"/> applies as for pixels.
    /// </summary>
    public static PreparedImage FromJpeg(EncodedJpeg jpeg, ImageNormalization normalization) => new([], normalization) { Jpeg = jpeg };

    /// <summary>The encoded JPEG (see <see cref="FromJpeg"/>), or null.</summary>
    public EncodedJpeg? Jpeg { get; private init; }
}

/// <summary>
/// Fails one item of a batch that no decoder could read (an encoded image the backend received, see
/// <see cref="PreparedImage.FromJpeg"/>); the other items of its batch are delivered as usual. <see cref="ItemIndex"/> is
/// the item's position in the list its request submitted.
/// </summary>
public sealed class UnreadableImageException(int itemIndex, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The item's index within its request.</summary>
    public int ItemIndex { get; } = itemIndex;
}

/// <summary>
/// One loaded model on one device: takes a batch of prepared images, returns host scores. Created once per
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

    /// <summary>True when the backend takes encoded JPEG items (<see cref="PreparedImage.FromJpeg"/>) and decodes them itself.</summary>
    bool DecodesJpeg => false;

    /// <summary>
    /// Runs one batch (1..<see cref="MaxBatchSize"/> images; their pixels are only read during the call). Returns
    /// images.Count × <see cref="OutputSize"/> host floats owned by the caller, in the order of the images.
    /// </summary>
    float[] Run(IReadOnlyList<PreparedImage> images);
}

/// <summary>What a backend is asked to build for a service.</summary>
/// <param name="ModelPath">The .onnx file.</param>
/// <param name="Repository">The service repository (engine files are written there).</param>
/// <param name="Model">Input/output names and shapes read from the ONNX file.</param>
/// <param name="Channels">Image channels the service feeds.</param>
/// <param name="Height">Tensor height the service feeds.</param>
/// <param name="Width">Tensor width the service feeds.</param>
/// <param name="MaxBatchSize">Largest batch (TensorRT: the optimisation profile's max).</param>
/// <param name="DataType">"fp32", "fp16" or "bf16" (<see cref="PrecisionNames"/>).</param>
/// <param name="GpuId">GPU ordinal.</param>
/// <param name="MaxWorkspaceMb">Builder workspace limit in MB (0 = default).</param>
/// <param name="EngineFileName">Base name of the engine file (DeepDetect's tensorRTEngineFile).</param>
/// <param name="ReadEngine">Reuse an engine file already in the repository.</param>
/// <param name="WriteEngine">Save the built engine in the repository.</param>
/// <param name="CpuThreads">ONNX Runtime intra-op threads (0 = default).</param>
/// <param name="GpuDecode">GPU backend: decode JPEGs on the GPU (nvJPEG) where it can (the server's --gpu-decode).</param>
/// <param name="GpuLanes">GPU backend: streams with their own execution context, 1 or 2 (the server's --gpu-lanes); two
/// let one batch's upload and decode overlap the other's engine run, for a second activation arena.</param>
/// <param name="PrecisionProtection">fp16/bf16 engines: automatic mixed precision (nodes that overflow or drift in the
/// reduced type kept in fp32; parameters.mllib.precisionProtection, default true).</param>
public sealed record BackendSpec(
    string ModelPath, string Repository, ModelInfo Model, int Channels, int Height, int Width, int MaxBatchSize,
    string DataType, int GpuId, int MaxWorkspaceMb, string EngineFileName, bool ReadEngine, bool WriteEngine, int CpuThreads,
    bool GpuDecode = true, int GpuLanes = 2, bool PrecisionProtection = true)
{
    /// <summary>
    /// GPU backend: the calibration runs of precision protection (the repository's calibration images through the
    /// service's input path, see <see cref="Services.CalibrationFolder"/>); null: the builder's random inputs.
    /// </summary>
    public IReadOnlyList<IReadOnlyDictionary<string, TrtNative.Ir.Tensor>>? Calibration { get; init; }

    /// <summary>
    /// GPU backend: how many tactics autotuning tries, 0..5 (<see cref="TrtNative.Runtime.BuilderConfig.OptimizationLevel"/>;
    /// parameters.mllib.optimizationLevel, default 3). Lower levels build faster and compile no cuDNN kernels at run time.
    /// </summary>
    public int OptimizationLevel { get; init; } = TrtNative.Runtime.BuilderConfig.DefaultOptimizationLevel;

    /// <summary>
    /// GPU backend: batches in flight at once, 2..<see cref="TrtNativeGpuBackend.MaxBatchesInFlight"/> (the server's
    /// --gpu-batches-in-flight): each has its own staging set (pinned pixels and scores, a JPEG decoder, a preparation
    /// stream); their engine runs share the lanes in turn.
    /// </summary>
    public int GpuBatchesInFlight { get; init; } = 2;

    /// <summary>
    /// GPU backend: nvJPEG decoders a batch's JPEGs are split between, each decoding its part at once on a thread and
    /// stream of its own, 1..<see cref="TrtNativeGpuBackend.MaxJpegDecodersPerBatch"/> (the server's
    /// --jpeg-decoders-per-batch; every staging set has that many).
    /// </summary>
    public int JpegDecodersPerBatch { get; init; } = 1;
}

/// <summary>
/// A backend that takes the next batch while earlier ones are still on the device, so the host work of one batch
/// (staging, upload, queueing) overlaps the device work of the others. The batching loop keeps at most
/// <see cref="MaxInFlight"/> batches submitted and completes them in submission order; it only ever calls one method at
/// a time.
/// </summary>
public interface IPipelinedBackend : IInferenceBackend
{
    /// <summary>
    /// Starts one batch (1..<see cref="IInferenceBackend.MaxBatchSize"/> images, only read during this call) and
    /// returns without waiting for it. At most <see cref="MaxInFlight"/> batches may be submitted and not yet completed.
    /// </summary>
    IPendingBatch Submit(IReadOnlyList<PreparedImage> images);

    /// <summary>How many batches may be submitted and not yet completed (at least 2).</summary>
    int MaxInFlight => 2;
}

/// <summary>A submitted batch.</summary>
public interface IPendingBatch
{
    /// <summary>Waits for the batch and returns images.Count × OutputSize scores (as <see cref="IInferenceBackend.Run"/>).</summary>
    float[] Complete();

    /// <summary>
    /// Per item of the batch, the reason it could not be read (its scores are then meaningless and it fails alone), or
    /// null; null as a whole when every item was read. Known once <see cref="IPipelinedBackend.Submit"/> has returned.
    /// </summary>
    IReadOnlyList<Exception?>? ItemErrors => null;

    /// <summary>Where the batch's time went, once <see cref="Complete"/> has returned; null for a backend that does not measure it.</summary>
    BatchStages? Stages => null;

    /// <summary>
    /// Whether the batch's work has finished, so that <see cref="Complete"/> would not wait; null for a backend that
    /// cannot tell without waiting.
    /// </summary>
    bool? IsDone => null;
}

/// <summary>
/// One batch's time by stage, in seconds: on the host, staging it (decoding calls, uploads: the time Submit took);
/// on the GPU, preparing its input (JPEG decoding, resizing, normalising) and running the engine with the scores'
/// download. <see cref="GpuDecodeSeconds"/> is the first part of <see cref="GpuPrepareSeconds"/>: until every image's
/// pixels are in the batch's slots (uploads, nvJPEG's decoding, the resize); the rest is the wait for the lane's input
/// buffer and the normalisation into it. The GPU stages are stream times between events, so they include any gap
/// while the host was still queueing their work; those of two lanes overlap each other and the host's.
/// </summary>
public readonly record struct BatchStages(double HostSubmitSeconds, double GpuDecodeSeconds, double GpuPrepareSeconds, double GpuEngineSeconds);

