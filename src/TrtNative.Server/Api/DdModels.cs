using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace TrtNative.Server.Api;

/// <summary>DeepDetect's status object: {code, msg, dd_code?, dd_msg?}; <c>detail</c> (ours) says why when there is no dd_code.</summary>
public sealed record DdStatusBody(
    int Code,
    string Msg,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? DdCode = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? DdMsg = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Detail = null);

/// <summary>An answer that is only a status (service created or deleted, any error).</summary>
public sealed record DdStatusResponse(DdStatusBody Status);

/// <summary>GET /info.</summary>
public sealed record InfoResponse(DdStatusBody Status, InfoHead Head);

/// <summary>The head of GET /info.</summary>
public sealed record InfoHead(string Method, string Version, string Branch, string Commit, List<ServiceSummary> Services);

/// <summary>One service in GET /info.</summary>
public sealed record ServiceSummary(string Name, string Description, string Mllib, string Mltype, string Type, bool Predict, bool Training, string State);

/// <summary>GET /services/{name}.</summary>
public sealed record ServiceInfoResponse(DdStatusBody Status, ServiceInfo Body);

/// <summary>
/// The service object of GET /services/{name}. <see cref="Parameters"/> is the creation body's parameters as sent
/// (DeepDetect echoes them; their values are loosely typed, so they stay a JSON object).
/// </summary>
public sealed record ServiceInfo(
    string Name,
    string Description,
    string Mllib,
    string Mltype,
    string Type,
    bool Predict,
    bool Training,
    string Repository,
    string Model,
    JsonObject Parameters,
    int Width,
    int Height,
    string State,
    string Backend,
    string? BackendReason,
    int MaxBatchSize,
    string Datatype,
    string InputTensor,
    string OutputTensor,
    ServiceStatsBody ServiceStats,
    ModelStatsBody ModelStats,
    ModelStatsBody Stats)
{
    /// <summary>The service's training jobs (always none); sent only with status=true, DeepDetect's default.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<JsonObject>? Jobs { get; init; }
    /// <summary>Seconds the engine took to build; only once built.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? EngineBuildSeconds { get; init; }
    /// <summary>GPU backends: where the engine came from (built, cache).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? EngineSource { get; init; }
    /// <summary>GPU backends: where JPEGs are decoded (nvJPEG's hardware decoder or CUDA backend, or the CPU and why), with counts.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? JpegDecode { get; init; }
    /// <summary>GPU backends: the engine file's name.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? EngineFile { get; init; }
    /// <summary>GPU backends: device memory the engine holds.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? GpuMemoryBytes { get; init; }
    /// <summary>Why the service failed to build, if it did.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Error { get; init; }
    /// <summary>The class labels by index (labels=true, the default).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? Labels { get; init; }
    /// <summary>GPU services: the engine against ONNX Runtime (CPU) on a few random inputs, checked when built.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public AccuracyReport? AccuracyCheck { get; init; }
    /// <summary>Once built: the service's replicas (one per GPU of parameters.mllib.gpuid; one for a CPU service).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<ReplicaInfo>? Replicas { get; init; }
}

/// <summary>
/// One replica of a service: its index, GPU ordinal (null on the CPU) and device name, its state (healthy, failed,
/// restoring) and, when not healthy, why; the batches and images it ran, batches in flight now, and how many times a
/// device error took it out of rotation.
/// </summary>
public sealed record ReplicaInfo(int Index, int? Gpu, string Device, string State, long Batches, long Images, int InFlight, long Failures)
{
    /// <summary>The device error, or the build or restore failure, that took it out of rotation.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Error { get; init; }
    /// <summary>GPU replicas: where its engine came from (built, loaded plan, rebuilt).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? EngineSource { get; init; }
    /// <summary>GPU replicas: its plan file's name.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? EngineFile { get; init; }
    /// <summary>GPU replicas: device memory its backend holds.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? GpuMemoryBytes { get; init; }
}

/// <summary>A GPU's share of a service's work (service_stats.per_gpu): backend runs and their images.</summary>
public sealed record GpuStatsBody(string Gpu, long EngineBatches, long InferenceCount);

/// <summary>POST /services/{name}/replicas/restore: the replicas it brought back.</summary>
public sealed record RestoreResponse(DdStatusBody Status, RestoreBody Body);

/// <summary>The body of a restore answer.</summary>
public sealed record RestoreBody(List<ReplicaInfo> Restored, List<ReplicaInfo> Replicas);

/// <summary>
/// The engine's build-time accuracy check (Services/AccuracyCheck): the reference it was compared with, on how many
/// random inputs, relative L2 error, largest absolute error, non-finite scores, top-1 agreement ("4/4") and whether
/// that is within the precision's budget; <see cref="Error"/> instead when the check could not run.
/// </summary>
public sealed record AccuracyReport(string Reference, int Items, double? RelL2, double? MaxAbsError, long? NonFinite, string? Top1,
    bool? WithinBudget, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);

/// <summary>
/// DeepDetect's service_stats (its names and units), plus how the batching queue grouped the images
/// (<c>engine_batches</c>, <c>avg_engine_batch_size</c>).
/// </summary>
public sealed record ServiceStatsBody(
    long InferenceCount,
    long PredictSuccess,
    long PredictFailure,
    long PredictCount,
    double AvgBatchSize,
    double AvgPredictDurationMs,
    double AvgTransformDurationMs,
    double AvgPredictDurationS,
    double AvgTransformDurationS,
    double TotalPredictDurationMs,
    double TotalTransformDurationMs,
    double AvgPredictDuration,
    double AvgTransformDuration)
{
    /// <summary>Backend runs so far.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public long? EngineBatches { get; init; }
    /// <summary>Images per backend run on average (0 before the first).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? AvgEngineBatchSize { get; init; }
    /// <summary>GPU services: backend runs and images per GPU, in the order of the service's GPUs.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<GpuStatsBody>? PerGpu { get; init; }
}

/// <summary>DeepDetect's model_stats: the weights in the ONNX initializers, when known.</summary>
public sealed record ModelStatsBody([property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? Params);

/// <summary>POST /predict.</summary>
public sealed record PredictResponse(DdStatusBody Status, PredictHead Head, PredictBody Body);

/// <summary>The head of a predict answer; <see cref="Time"/> in milliseconds.</summary>
public sealed record PredictHead(string Method, string Service, double Time);

/// <summary>The body of a predict answer.</summary>
public sealed record PredictBody(List<Prediction> Predictions);

/// <summary>One image's classes, best first.</summary>
public sealed record Prediction(string Uri, List<PredictedClass> Classes);

/// <summary>One class and its score; <see cref="Last"/> marks the last class of the list, as DeepDetect does.</summary>
public sealed record PredictedClass(
    double Prob,
    string Cat,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? Last = null);

/// <summary>Source-generated JSON for the DeepDetect answers (snake_case names, as DeepDetect spells them).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(DdStatusResponse))]
[JsonSerializable(typeof(InfoResponse))]
[JsonSerializable(typeof(ServiceInfoResponse))]
[JsonSerializable(typeof(PredictResponse))]
[JsonSerializable(typeof(RestoreResponse))]
[JsonSerializable(typeof(ServiceStatsBody))]
public sealed partial class DdJson : JsonSerializerContext;
