using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace TrtNative.Server.Api;

/// <summary>
/// The one place where a failure becomes an answer. Endpoints and services throw (<see cref="DdException"/> for a
/// row of DeepDetect's status table); this maps it: the DeepDetect routes answer with the status object
/// ({"status": {code, msg, dd_code, dd_msg}}), the KServe routes (/v2...) with their protocol's {"error": "..."}.
/// Anything that is not a <see cref="DdException"/> is 500 (DeepDetect: dd_code 1007).
/// </summary>
public sealed class ApiExceptionHandler(ILogger<ApiExceptionHandler> log) : IExceptionHandler
{
    /// <summary>The KServe v2 routes' prefix: their errors keep that protocol's body.</summary>
    public static readonly PathString KServePrefix = "/v2";

    /// <inheritdoc/>
    public async ValueTask<bool> TryHandleAsync(HttpContext ctx, Exception exception, CancellationToken ct)
    {
        if (exception is OperationCanceledException && ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away: nobody reads an answer. 499 is nginx's "client closed request".
            ctx.Response.StatusCode = 499;
            return true;
        }
        var e = exception switch
        {
            DdException dd => dd,
            // Kestrel's refusals (body over the limit, malformed framing) are the client's mistake: 400/1005, and a
            // body over the limit is sent as 400 too.
            BadHttpRequestException b => new DdException(b.StatusCode == StatusCodes.Status413PayloadTooLarge ? 400 : b.StatusCode, 1005,
                $"bad request: {b.Message}", b),
            _ => DdException.Internal(exception.Message, exception),
        };
        if (e.HttpCode >= 500) log.LogError(exception, "{Path}: {Message}", ctx.Request.Path, exception.Message);
        else log.LogInformation("{Path}: {Code}/{Dd} {Message}", ctx.Request.Path, e.HttpCode, e.DdCode, e.Message);

        // A Kestrel refusal keeps status.code 400 whatever HTTP code it is sent with.
        await WriteAsync(ctx, e, exception is BadHttpRequestException ? 400 : e.HttpCode, ct);
        return true;
    }

    /// <summary>
    /// Writes <paramref name="e"/> as the answer in the protocol of the request's route, with HTTP status
    /// <see cref="DdException.HttpCode"/> and DeepDetect's status.code <paramref name="statusCode"/>.
    /// </summary>
    public static async Task WriteAsync(HttpContext ctx, DdException e, int statusCode, CancellationToken ct)
    {
        ctx.Response.StatusCode = e.HttpCode;
        byte[] body = ctx.Request.Path.StartsWithSegments(KServePrefix)
            ? JsonSerializer.SerializeToUtf8Bytes(new ErrorResponse(e.Message), KServeJson.Relaxed.ErrorResponse)
            : JsonSerializer.SerializeToUtf8Bytes(new DdStatusResponse(DdStatus.Make(statusCode, e.DdCode, e.Message)), DdJson.Default.DdStatusResponse);
        ctx.Response.ContentType = "application/json; charset=utf-8";
        ctx.Response.ContentLength = body.Length;
        await ctx.Response.Body.WriteAsync(body, ct);
    }

    /// <summary>
    /// Gives the empty answers routing makes (404: no route, 405: the route without that method) the body of the
    /// request's protocol: DeepDetect's clients read status from every answer.
    /// </summary>
    public static Task WriteEmptyStatusAsync(StatusCodeContext s)
    {
        var ctx = s.HttpContext;
        int code = ctx.Response.StatusCode;
        if (code is not (StatusCodes.Status404NotFound or StatusCodes.Status405MethodNotAllowed)) return Task.CompletedTask;
        string what = code == StatusCodes.Status405MethodNotAllowed
            ? $"{ctx.Request.Method} is not allowed on {ctx.Request.Path}"
            : $"no route {ctx.Request.Method} {ctx.Request.Path}";
        return WriteAsync(ctx, new DdException(code, 0, what), code, ctx.RequestAborted);
    }
}
