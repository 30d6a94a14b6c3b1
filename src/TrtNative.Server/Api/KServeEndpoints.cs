using System.Buffers.Binary;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using TrtNative.Server.Inference;
using TrtNative.Server.Services;

namespace TrtNative.Server.Api;

/// <summary>
/// The KServe v2 / Open Inference Protocol REST API next to DeepDetect's, over the same services: a model is a
/// service, its one version is "1", and infer goes through the service's engine and batching queue like /predict.
/// Inputs: the model's input tensor [N, C, H, W] as FP32 or FP16 (fed as it is), or UINT8 [N, H, W, C] image pixels
/// at the service's size (RGB, or grey for bw services), which the service preprocesses as /predict does (scale,
/// mean, std, BGR unless rgb). Output: the model's scores, FP32 [N, classes]. Tensor data comes as JSON (flat or
/// nested, row-major) or with the binary tensor data extension (Inference-Header-Content-Length).
/// </summary>
public static class KServeEndpoints
{
    /// <summary>The request header that carries the JSON part's length (binary tensor data extension).</summary>
    public const string HeaderLength = "Inference-Header-Content-Length";

    private static KServeJson Types => KServeJson.Relaxed;
    private const string Tag = "KServe v2";

    /// <summary>Adds the /v2 routes.</summary>
    public static void Map(WebApplication app)
    {
        // Health through ASP.NET Core health checks, answered with the protocol's bodies: live has no checks (the
        // process answers), ready runs the "ready" ones; not ready is 400, as for a model.
        app.MapHealthChecks("/v2/health/live", new HealthCheckOptions
        {
            Predicate = _ => false,
            ResponseWriter = (ctx, report) => WriteHealth(ctx, new LiveResponse(report.Status == HealthStatus.Healthy), Types.LiveResponse),
        }).WithMetadata(new HttpMethodMetadata(["GET"]));
        app.MapHealthChecks("/v2/health/ready", new HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains(ServicesReadyCheck.ReadyTag),
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status400BadRequest,
                [HealthStatus.Unhealthy] = StatusCodes.Status400BadRequest,
            },
            ResponseWriter = (ctx, report) => WriteHealth(ctx, new ReadyResponse(report.Status == HealthStatus.Healthy), Types.ReadyResponse),
        }).WithMetadata(new HttpMethodMetadata(["GET"]));
        app.MapGet("/v2", () => Json(200, new ServerMetadata("trtnative", Endpoints.Version, ["binary_tensor_data"]), Types.ServerMetadata))
            .WithTags(Tag).Produces<ServerMetadata>();

        foreach (var prefix in new[] { "/v2/models/{name}", "/v2/models/{name}/versions/{version}" })
        {
            app.MapGet(prefix, (string name, string? version, ServiceRegistry reg) =>
                Json(200, Metadata(Find(reg, name, version)), Types.ModelMetadata))
                .WithTags(Tag).Produces<ModelMetadata>().Produces<ErrorResponse>(404);
            app.MapGet(prefix + "/ready", (string name, string? version, ServiceRegistry reg) =>
            {
                var svc = Find(reg, name, version);
                bool ready = svc.IsReady;
                return Json(ready ? 200 : 400, new ModelReadyResponse(svc.Def.Name, ready), Types.ModelReadyResponse);
            }).WithTags(Tag).Produces<ModelReadyResponse>().Produces<ModelReadyResponse>(400).Produces<ErrorResponse>(404);
            app.MapPost(prefix + "/infer", (string name, string? version, HttpContext ctx, ServiceRegistry reg, ServerOptions opts) =>
                InferAsync(Find(reg, name, version), ctx, opts))
                .WithTags(Tag).DescribesBody<InferRequest>("application/json", "application/octet-stream")
                .Produces<InferResponse>().Produces<ErrorResponse>(400).Produces<ErrorResponse>(404);
        }
    }

    private static ModelService Find(ServiceRegistry reg, string name, string? version)
    {
        var svc = reg.Get(name);
        if (version != null && version != "1") throw new DdException(404, 0, $"model '{svc.Def.Name}' has only version 1, not '{version}'");
        return svc;
    }

    private static ModelMetadata Metadata(ModelService svc)
    {
        var spec = svc.Def.Spec;
        long batch = spec.Model.Input.Dims[0] > 0 ? spec.Model.Input.Dims[0] : -1;
        return new ModelMetadata(svc.Def.Name, ["1"], svc.BackendKind == BackendKind.Cpu ? "onnxruntime_onnx" : "trtnative_onnx",
            [new TensorMetadata(spec.Model.Input.Name, "FP32", [batch, spec.Channels, spec.Height, spec.Width])],
            [new TensorMetadata(spec.Model.Output.Name, "FP32", [batch, spec.Model.StaticClasses ?? -1])])
        {
            Replicas = svc.BackendKind == BackendKind.Gpu && svc.Replicas.Count > 0 ? svc.Replicas.Select(ModelService.Describe).ToList() : null,
        };
    }

    private static async Task<IResult> InferAsync(ModelService svc, HttpContext ctx, ServerOptions opts)
    {
        using var raw = await Endpoints.ReadBodyAsync(ctx);
        var body = raw.Memory;
        int jsonLength = body.Length;
        if (ctx.Request.Headers.TryGetValue(HeaderLength, out var hv))
        {
            if (!int.TryParse(hv.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out jsonLength) || jsonLength > body.Length)
                throw Bad($"{HeaderLength} '{hv}' is not a length within the {body.Length}-byte body");
        }
        InferRequest req;
        try
        {
            req = JsonSerializer.Deserialize(body.Span[..jsonLength], Types.InferRequest) ?? throw Bad("the request is null");
        }
        catch (JsonException e)
        {
            throw Bad($"malformed inference request: {e.Message}");
        }
        var spec = svc.Def.Spec;
        if (req.Inputs is not { Count: 1 })
            throw Bad($"the request must have exactly one input ('{spec.Model.Input.Name}'), it has {req.Inputs?.Count ?? 0}");
        var input = req.Inputs[0] ?? throw Bad("inputs[0] is null");
        if (input.Name != spec.Model.Input.Name) throw Bad($"unknown input '{input.Name}': model '{svc.Def.Name}' has one input, '{spec.Model.Input.Name}'");
        bool wantBinary = Bool(req.Parameters, "binary_data_output");
        foreach (var o in req.Outputs ?? [])
        {
            if (o is null) throw Bad("'outputs' holds a null");
            if (o.Name != spec.Model.Output.Name) throw Bad($"unknown output '{o.Name}': model '{svc.Def.Name}' has one output, '{spec.Model.Output.Name}'");
            if (o.Parameters != null && o.Parameters.ContainsKey("binary_data")) wantBinary = Bool(o.Parameters, "binary_data");
        }

        int c = spec.Channels, h = spec.Height, w = spec.Width, item = c * h * w;
        string dtype = input.Datatype ?? "";
        long[] want = dtype switch
        {
            "FP32" or "FP16" => [-1, c, h, w],
            "UINT8" => [-1, h, w, c],
            _ => throw Bad($"input datatype '{dtype}' is not supported (FP32, FP16: the model tensor [N,{c},{h},{w}]; UINT8: pixels [N,{h},{w},{c}])"),
        };
        var shape = input.Shape ?? throw Bad("input 'shape' is missing");
        if (shape.Length != 4 || shape[0] < 1 || shape[1] != want[1] || shape[2] != want[2] || shape[3] != want[3])
            throw Bad($"{dtype} input shape [{string.Join(",", shape)}] must be [N,{want[1]},{want[2]},{want[3]}] with N >= 1");
        if (shape[0] > opts.MaxImagesPerRequest) throw Bad($"batch {shape[0]} is over the limit of {opts.MaxImagesPerRequest} per request");
        int n = (int)shape[0];
        long count = (long)n * item;

        // The values, flat and row-major, from the binary part or from JSON.
        int elemBytes = dtype switch { "FP32" => 4, "FP16" => 2, _ => 1 };
        ReadOnlySpan<byte> binary = default;
        if (input.Parameters?.TryGetValue("binary_data_size", out var bsz) == true)
        {
            if (bsz.ValueKind != JsonValueKind.Number || !bsz.TryGetInt64(out long size) || size != count * elemBytes)
                throw Bad($"binary_data_size {bsz} does not match {count} {dtype} values ({count * elemBytes} bytes)");
            if (body.Length - jsonLength < size) throw Bad($"the body has {body.Length - jsonLength} binary bytes, the input needs {size}");
            binary = body.Span.Slice(jsonLength, (int)size);
        }
        else if (input.Data is not { } data)
        {
            throw Bad("input has neither 'data' nor parameters.binary_data_size");
        }
        var items = new PreparedImage[n];
        if (dtype == "UINT8")
        {
            var pixels = new byte[count];
            if (!binary.IsEmpty) binary.CopyTo(pixels);
            else Flatten(input.Data!.Value, count, pixels, (e, i) => e.ValueKind == JsonValueKind.Number && e.TryGetByte(out var b) ? b : throw Bad($"data[{i}] is not a UINT8 value"));
            var norm = svc.Def.Input.ToNormalization();
            for (int i = 0; i < n; i++) items[i] = new PreparedImage(pixels.AsSpan(i * item, item).ToArray(), norm);
        }
        else
        {
            var values = new float[count];
            if (!binary.IsEmpty)
            {
                for (int i = 0; i < values.Length; i++)
                    values[i] = elemBytes == 4 ? BinaryPrimitives.ReadSingleLittleEndian(binary[(i * 4)..])
                        : (float)BinaryPrimitives.ReadHalfLittleEndian(binary[(i * 2)..]);
            }
            else
            {
                bool half = dtype == "FP16";
                Flatten(input.Data!.Value, count, values, (e, i) => e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out var d)
                    ? half ? (float)(Half)d : (float)d
                    : throw Bad($"data[{i}] is not a number"));
            }
            // A value out of the type's range (1e39 as FP32) or a binary inf/NaN would come back as a non-finite output.
            int bad = Array.FindIndex(values, v => !float.IsFinite(v));
            if (bad >= 0) throw Bad($"data[{bad}] is not a finite {dtype} value");
            for (int i = 0; i < n; i++) items[i] = PreparedImage.FromTensor(values.AsSpan(i * item, item).ToArray(), c);
        }

        var scores = await svc.RunAsync(items.ToList(), i => $"item {i}", ctx.RequestAborted);
        int classes = scores[0].Length;
        var flat = new float[n * classes];
        for (int i = 0; i < n; i++) scores[i].CopyTo(flat, i * classes);
        long[] outShape = [n, classes];
        if (!wantBinary)
        {
            return Json(200, new InferResponse(svc.Def.Name, "1", req.Id,
                [new InferOutput(spec.Model.Output.Name, outShape, "FP32", null, flat)]), Types.InferResponse);
        }
        var header = JsonSerializer.SerializeToUtf8Bytes(new InferResponse(svc.Def.Name, "1", req.Id,
            [new InferOutput(spec.Model.Output.Name, outShape, "FP32", new() { ["binary_data_size"] = flat.Length * 4 }, null)]),
            Types.InferResponse);
        var bytes = new byte[header.Length + flat.Length * 4];
        header.CopyTo(bytes, 0);
        for (int i = 0; i < flat.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(header.Length + i * 4), flat[i]);
        ctx.Response.Headers[HeaderLength] = header.Length.ToString(CultureInfo.InvariantCulture);
        return Results.Bytes(bytes, "application/octet-stream");
    }

    // Nested or flat JSON arrays, row-major, into exactly `count` values.
    private static void Flatten<T>(JsonElement data, long count, T[] into, Func<JsonElement, long, T> convert)
    {
        long k = 0;
        void Walk(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var x in e.EnumerateArray()) Walk(x);
                return;
            }
            if (k >= count) throw Bad($"'data' has more than the {count} values the shape holds");
            into[k] = convert(e, k);
            k++;
        }
        Walk(data);
        if (k != count) throw Bad($"'data' has {k} values, the shape holds {count}");
    }

    private static bool Bool(Dictionary<string, JsonElement>? parameters, string key)
    {
        if (parameters == null || !parameters.TryGetValue(key, out var v)) return false;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad($"parameter '{key}' must be a boolean"),
        };
    }

    private static DdException Bad(string why) => new(400, 0, why);

    private static Task WriteHealth<T>(HttpContext ctx, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        ctx.Response.WriteAsJsonAsync(value, info, "application/json", ctx.RequestAborted);

    private static IResult Json<T>(int code, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        Results.Json(value, info, "application/json", code);
}

/// <summary>An inference request (Open Inference Protocol).</summary>
public sealed record InferRequest(string? Id, Dictionary<string, JsonElement>? Parameters, List<InferInput>? Inputs, List<RequestedOutput>? Outputs);

/// <summary>One input tensor of a request; <paramref name="Data"/> is absent when the values are binary.</summary>
public sealed record InferInput(string? Name, long[]? Shape, string? Datatype, Dictionary<string, JsonElement>? Parameters, JsonElement? Data);

/// <summary>An output the request asks for (parameters.binary_data: return it as binary).</summary>
public sealed record RequestedOutput(string? Name, Dictionary<string, JsonElement>? Parameters);

/// <summary>An inference response.</summary>
public sealed record InferResponse(string ModelName, string ModelVersion, string? Id, List<InferOutput> Outputs);

/// <summary>One output tensor; <paramref name="Data"/> is absent when it follows as binary (parameters.binary_data_size).</summary>
public sealed record InferOutput(string Name, long[] Shape, string Datatype, Dictionary<string, long>? Parameters, float[]? Data);

/// <summary>GET /v2.</summary>
public sealed record ServerMetadata(string Name, string Version, string[] Extensions);

/// <summary>GET /v2/models/{name}.</summary>
public sealed record ModelMetadata(string Name, string[] Versions, string Platform, List<TensorMetadata> Inputs, List<TensorMetadata> Outputs)
{
    /// <summary>
    /// GPU models: one entry per GPU replica (state, batches and images run, failure) — an extension field next to the
    /// protocol's; clients that do not know it ignore it.
    /// </summary>
    public List<ReplicaInfo>? Replicas { get; init; }
}

/// <summary>A tensor's name, datatype and shape (-1: any size).</summary>
public sealed record TensorMetadata(string Name, string Datatype, long[] Shape);

/// <summary>GET /v2/health/live.</summary>
public sealed record LiveResponse(bool Live);

/// <summary>GET /v2/health/ready.</summary>
public sealed record ReadyResponse(bool Ready);

/// <summary>GET /v2/models/{name}/ready.</summary>
public sealed record ModelReadyResponse(string Name, bool Ready);

/// <summary>Any error.</summary>
public sealed record ErrorResponse(string Error);

/// <summary>Source-generated JSON for the KServe records (snake_case names, nulls left out).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(InferRequest))]
[JsonSerializable(typeof(InferResponse))]
[JsonSerializable(typeof(ServerMetadata))]
[JsonSerializable(typeof(ModelMetadata))]
[JsonSerializable(typeof(LiveResponse))]
[JsonSerializable(typeof(ReadyResponse))]
[JsonSerializable(typeof(ModelReadyResponse))]
[JsonSerializable(typeof(ErrorResponse))]
internal sealed partial class KServeJson : JsonSerializerContext
{
    /// <summary>The generated metadata with a relaxed encoder: error messages keep their quotes and '+' readable.</summary>
    public static KServeJson Relaxed { get; } = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
