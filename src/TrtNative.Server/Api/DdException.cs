namespace TrtNative.Server.Api;

/// <summary>
/// A failure that maps to one row of DeepDetect's status table (HTTP code, optional dd_code, dd_msg).
/// Thrown anywhere below the handlers; <see cref="ApiExceptionHandler"/> turns it into the JSON status object.
/// </summary>
public sealed class DdException(int httpCode, int ddCode, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>HTTP status code sent.</summary>
    public int HttpCode { get; } = httpCode;

    /// <summary>DeepDetect error code; 0 = none (then no dd_code field is sent).</summary>
    public int DdCode { get; } = ddCode;

    /// <summary>400, no dd_code: the body is not JSON at all, or predict has no service.</summary>
    public static DdException BadRequest(string why) => new(400, 0, why);
    /// <summary>400/400: a field has the wrong JSON type or value shape.</summary>
    public static DdException WrongType(string why) => new(400, 400, why);
    /// <summary>404/1000: unknown mllib.</summary>
    public static DdException UnknownLibrary(string mllib) => new(404, 1000, $"Unknown Library: mllib '{mllib}' is not supported (use tensorrt or onnxruntime)");
    /// <summary>400/1001: no data in predict.</summary>
    public static DdException NoData(string why = "No Data: 'data' is missing or empty") => new(400, 1001, why);
    /// <summary>404/1002: service not found.</summary>
    public static DdException ServiceNotFound(string name) => new(404, 1002, $"Service Not Found: '{name}'");
    /// <summary>404/1004: input connector missing or not "image".</summary>
    public static DdException InputConnectorNotFound(string? c) => new(404, 1004, $"Input Connector Not Found: '{c ?? "(none)"}' (only 'image' is supported)");
    /// <summary>400/1005: bad input parameter or unreadable image.</summary>
    public static DdException InputError(string why) => new(400, 1005, why);
    /// <summary>400/1006: bad mllib parameter, model missing, init fetch failed.</summary>
    public static DdException BadMllib(string why, Exception? inner = null) => new(400, 1006, why, inner);
    /// <summary>500/1007: anything else.</summary>
    public static DdException Internal(string why, Exception? inner = null) => new(500, 1007, why, inner);
    /// <summary>409/1008: conflicting job (engine still building, queue full).</summary>
    public static DdException Conflict(string why) => new(409, 1008, why);
    /// <summary>409/1014: service already exists.</summary>
    public static DdException AlreadyExists(string name) => new(409, 1014, $"Service already exists: '{name}'");
}

/// <summary>DeepDetect's status object.</summary>
public static class DdStatus
{
    /// <summary>The reason phrase DeepDetect puts in status.msg for an HTTP code.</summary>
    public static string Msg(int code) => code switch
    {
        200 => "OK",
        201 => "Created",
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        500 => "InternalError",
        _ => "Error",
    };

    /// <summary>{code, msg, dd_code?, dd_msg?}; dd fields only when ddCode &gt; 0.</summary>
    public static DdStatusBody Make(int code, int ddCode = 0, string? ddMsg = null) =>
        ddCode > 0 ? new DdStatusBody(code, Msg(code), ddCode, ddMsg ?? "")
            // detail is not in DeepDetect's schema; extra fields are allowed and help a client see why.
            : new DdStatusBody(code, Msg(code), Detail: ddMsg);
}
