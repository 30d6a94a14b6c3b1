using System.Buffers;
using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Features;
using TrtNative.Server.Imaging;
using TrtNative.Server.Inference;
using TrtNative.Server.Metrics;
using TrtNative.Server.Services;

namespace TrtNative.Server.Api;

/// <summary>The DeepDetect routes. Handlers parse, call the service layer and answer with typed records; failures are thrown.</summary>
public static class Endpoints
{
    /// <summary>Server version reported by /info.</summary>
    public static string Version => typeof(Endpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.1.0";

    /// <summary>Adds the routes and the request metrics middleware (errors: <see cref="ApiExceptionHandler"/>).</summary>
    public static void Map(WebApplication app)
    {
        var metrics = app.Services.GetRequiredService<ServerMetrics>();
        app.Use(async (ctx, next) =>
        {
            // Read before the request runs: the exception handler clears the endpoint when it answers a failure.
            string ep = ctx.GetEndpoint() is RouteEndpoint re ? $"{ctx.Request.Method} {re.RoutePattern.RawText}" : "other";
            var sw = Stopwatch.StartNew();
            try
            {
                await next();
            }
            finally
            {
                metrics.Request(ep, ctx.Response.StatusCode, sw.Elapsed.TotalSeconds);
            }
        });
        app.UseStatusCodePages(ApiExceptionHandler.WriteEmptyStatusAsync);
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            AllowStatusCode404Response = true,
            // ApiExceptionHandler answers every exception; the middleware still wants a fallback (or ProblemDetails,
            // which would also write RFC 7807 bodies for other empty error answers).
            ExceptionHandler = _ => Task.CompletedTask,
        });

        app.MapGet("/info", (ServiceRegistry reg) => Json(200, new InfoResponse(DdStatus.Make(200), new InfoHead("/info", Version, "trtnative", Commit,
            reg.All.Select(s => new ServiceSummary(s.Def.Name, s.Def.Description, s.Def.Mllib, "classification", "supervised", true, false,
                s.StateName)).ToList())), DdJson.Default.InfoResponse))
            .WithTags(Tag).Produces<InfoResponse>();

        app.MapMethods("/services/{name}", ["PUT", "POST"], async (string name, HttpContext ctx, ServiceRegistry reg) =>
        {
            using var raw = await ReadBodyAsync(ctx);
            // Parsed into a copy of the pooled bytes: the service keeps parts of the creation body.
            var body = JsonRead.ParseObject(raw.Memory.Span);
            await reg.CreateAsync(name, body, ctx.RequestAborted);
            return Status(201);
        }).WithTags(Tag).DescribesBody<JsonObject>("application/json").Produces<DdStatusResponse>(201).ProducesErrors();

        app.MapGet("/services/{name}", (string name, HttpContext ctx, ServiceRegistry reg) =>
        {
            var svc = reg.Get(name);
            bool labels = !string.Equals(ctx.Request.Query["labels"], "false", StringComparison.OrdinalIgnoreCase);
            bool status = ctx.Request.Query["status"].ToString() is not ("false" or "0");
            return Json(200, new ServiceInfoResponse(DdStatus.Make(200), svc.Describe(labels, status)), DdJson.Default.ServiceInfoResponse);
        }).WithTags(Tag).Produces<ServiceInfoResponse>().ProducesErrors();

        // Not in DeepDetect (which has no multi-GPU inference): brings failed replicas back without a restart. The body is
        // optional: {"gpuid": n | [n, ...] | "all" | -1} picks which (default: every failed replica).
        app.MapPost("/services/{name}/replicas/restore", async (string name, HttpContext ctx, ServiceRegistry reg) =>
        {
            var svc = reg.Get(name);
            using var raw = await ReadBodyAsync(ctx);
            GpuSelection? which = null;
            if (raw.Memory.Length > 0)
            {
                var body = JsonRead.ParseObject(raw.Memory.Span);
                if (body["gpuid"] != null) which = GpuSelection.Parse(body["gpuid"]);
            }
            var restored = await svc.RestoreAsync(which, ctx.RequestAborted);
            return Json(200, new RestoreResponse(DdStatus.Make(200), new RestoreBody(restored.Select(ModelService.Describe).ToList(),
                svc.Replicas.Select(ModelService.Describe).ToList())), DdJson.Default.RestoreResponse);
        }).WithTags(Tag).DescribesBody<JsonObject>("application/json").Produces<RestoreResponse>().ProducesErrors();

        app.MapDelete("/services/{name}", async (string name, HttpContext ctx, ServiceRegistry reg) =>
        {
            string? clear = ctx.Request.Query["clear"];
            await reg.DeleteAsync(name, string.IsNullOrEmpty(clear) ? null : clear);
            return Status(200);
        }).WithTags(Tag).Produces<DdStatusResponse>().ProducesErrors();

        app.MapPost("/predict", async (HttpContext ctx, Predictor predictor) =>
        {
            var sw = Stopwatch.StartNew();
            // Parsed in place from the pooled UTF-8 bytes (base64 images are decoded straight from them); the bytes and
            // the document stay until the predictions are built, which read nothing of the body afterwards.
            using var raw = await ReadBodyAsync(ctx);
            var body = JsonRead.ParseObject(raw.Memory, out var doc);
            using var _ = doc;
            var (service, preds) = await predictor.PredictAsync(body, ctx.RequestAborted);
            return Json(200, new PredictResponse(DdStatus.Make(200), new PredictHead("/predict", service, sw.Elapsed.TotalMilliseconds),
                new PredictBody(preds)), DdJson.Default.PredictResponse);
        }).WithTags(Tag).DescribesBody<JsonObject>("application/json").Produces<PredictResponse>().ProducesErrors();

        app.MapPrometheusScrapingEndpoint("/metrics");
    }

    private static string Commit => typeof(Endpoints).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .FirstOrDefault(a => a.Key == "commit")?.Value ?? "unknown";

    private const string Tag = "DeepDetect";

    // The status table's error rows, for the OpenAPI document.
    private static RouteHandlerBuilder ProducesErrors(this RouteHandlerBuilder b) =>
        b.Produces<DdStatusResponse>(400).Produces<DdStatusResponse>(404).Produces<DdStatusResponse>(409).Produces<DdStatusResponse>(500);

    private static IResult Status(int code) => Json(code, new DdStatusResponse(DdStatus.Make(code)), DdJson.Default.DdStatusResponse);

    private static IResult Json<T>(int code, T value, JsonTypeInfo<T> info) => new JsonAnswer<T>(code, value, info);

    /// <summary>
    /// Writes the answer as UTF-8 into a pooled buffer (no string, no exact-size byte[] of it), then to the response
    /// with its Content-Length.
    /// </summary>
    private sealed class JsonAnswer<T>(int code, T value, JsonTypeInfo<T> info) : IResult
    {
        public async Task ExecuteAsync(HttpContext ctx)
        {
            using var buffer = new PooledBufferWriter();
            using (var w = new Utf8JsonWriter(buffer)) JsonSerializer.Serialize(w, value, info);
            ctx.Response.StatusCode = code;
            ctx.Response.ContentType = "application/json; charset=utf-8";
            ctx.Response.ContentLength = buffer.Written.Length;
            await ctx.Response.Body.WriteAsync(buffer.Written, ctx.RequestAborted);
        }
    }

    /// <summary>An <see cref="IBufferWriter{T}"/> over arrays from <see cref="ScratchBuffers"/> (returned at Dispose: a large answer's array is not kept).</summary>
    private sealed class PooledBufferWriter : IBufferWriter<byte>, IDisposable
    {
        private byte[] _buf = ScratchBuffers.Bytes.Rent(4096);
        private int _used;
        public ReadOnlyMemory<byte> Written => _buf.AsMemory(0, _used);
        public void Advance(int count) => _used += count;
        public Memory<byte> GetMemory(int sizeHint = 0) => Ensure(sizeHint).AsMemory(_used);
        public Span<byte> GetSpan(int sizeHint = 0) => Ensure(sizeHint).AsSpan(_used);

        private byte[] Ensure(int sizeHint)
        {
            int need = _used + Math.Max(1, sizeHint);
            if (need > _buf.Length)
            {
                var bigger = ScratchBuffers.Bytes.Rent(Math.Max(need, _buf.Length * 2));
                _buf.AsSpan(0, _used).CopyTo(bigger);
                ScratchBuffers.Bytes.Return(_buf);
                _buf = bigger;
            }
            return _buf;
        }

        public void Dispose() => ScratchBuffers.Bytes.Return(_buf);
    }

    // Kestrel enforces the limit itself on bodies without a Content-Length (chunked): its refusal is the client's
    // mistake, answered like ours (400/1005), not a server error.
    private static async ValueTask<int> ReadChunkAsync(HttpContext ctx, Memory<byte> into, long max)
    {
        try
        {
            return await ctx.Request.Body.ReadAsync(into, ctx.RequestAborted);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw DdException.InputError($"request body is over the {max}-byte limit");
        }
        catch (BadHttpRequestException e)
        {
            throw DdException.BadRequest($"bad request body: {e.Message}");
        }
    }

    /// <summary>A request body in a scratch buffer; Dispose gives the buffer back (nothing may read it afterwards).</summary>
    internal sealed class PooledBody(byte[] buffer, int length) : IDisposable
    {
        private byte[]? _buffer = buffer;
        public ReadOnlyMemory<byte> Memory => (_buffer ?? throw new ObjectDisposedException(nameof(PooledBody))).AsMemory(0, length);

        public void Dispose()
        {
            var b = Interlocked.Exchange(ref _buffer, null);
            if (b != null) ScratchBuffers.Bytes.Return(b);
        }
    }

    /// <summary>
    /// Reads the request body (up to ServerOptions.MaxRequestBytes; over it, or a body Kestrel refuses, is a 400) into a
    /// scratch buffer from the bounded pool; both APIs read their bodies through it.
    /// </summary>
    internal static async Task<PooledBody> ReadBodyAsync(HttpContext ctx)
    {
        long max = ctx.RequestServices.GetRequiredService<ServerOptions>().MaxRequestBytes;
        if (ctx.Request.ContentLength > max)
            throw DdException.InputError($"request body is {ctx.Request.ContentLength} bytes, over the {max}-byte limit");
        // Read into a scratch buffer (bounded pool: a large body's buffer is not kept), sized from Content-Length when
        // given (Kestrel holds the client to it, and it is at most the limit), grown by doubling otherwise.
        var buf = ScratchBuffers.Bytes.Rent((int)Math.Clamp(ctx.Request.ContentLength ?? 4096, 1, Math.Min(max, int.MaxValue - 1)) + 1);
        try
        {
            int len = 0, n;
            while ((n = await ReadChunkAsync(ctx, buf.AsMemory(len), max)) > 0)
            {
                len += n;
                if (len > max) throw DdException.InputError($"request body is over the {max}-byte limit");
                if (len == buf.Length)
                {
                    var bigger = ScratchBuffers.Bytes.Rent((int)Math.Min((long)buf.Length * 2, max + 1));
                    buf.AsSpan(0, len).CopyTo(bigger);
                    ScratchBuffers.Bytes.Return(buf);
                    buf = bigger;
                }
            }
            var body = new PooledBody(buf, len);
            buf = null;
            return body;
        }
        finally
        {
            if (buf != null) ScratchBuffers.Bytes.Return(buf);
        }
    }
}
