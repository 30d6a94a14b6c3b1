using System.Text.Json;
using System.Text.Json.Nodes;
using TrtNative.Server.Imaging;

namespace TrtNative.Server.Api;

/// <summary>Typed reads of loosely typed DeepDetect JSON; a wrong type is a 400/400 naming the field.</summary>
public static class JsonRead
{
    // The one set of options for every request body, copied or in place: duplicate keys are refused at parse time
    // (JsonObject would otherwise throw an ArgumentException on first use).
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64, AllowDuplicateProperties = false };

    /// <summary>
    /// Parses a UTF-8 request body into an object that owns its data (the bytes may be reused afterwards): not UTF-8 or
    /// not JSON → 400 (no dd_code); not an object → 400/400. Parsing the bytes themselves (not a string) spares a
    /// transcoding buffer of three times the body's length, which the shared array pool would keep.
    /// </summary>
    public static JsonObject ParseObject(ReadOnlySpan<byte> utf8)
    {
        CheckUtf8(utf8);
        JsonNode? n;
        try
        {
            n = JsonNode.Parse(utf8, documentOptions: Options);
        }
        catch (JsonException e)
        {
            throw Malformed(e);
        }
        return n as JsonObject ?? throw NotAnObject();
    }

    /// <summary>
    /// Parses a UTF-8 request body in place, without a copy: the returned object reads <paramref name="utf8"/> through
    /// <paramref name="document"/>, so both must outlive every use of it (dispose the document afterwards). Same errors as
    /// <see cref="ParseObject(ReadOnlySpan{byte})"/>.
    /// </summary>
    public static JsonObject ParseObject(ReadOnlyMemory<byte> utf8, out JsonDocument document)
    {
        CheckUtf8(utf8.Span);
        try
        {
            document = JsonDocument.Parse(utf8, Options);
        }
        catch (JsonException e)
        {
            throw Malformed(e);
        }
        if (document.RootElement.ValueKind == JsonValueKind.Object) return JsonObject.Create(document.RootElement)!;
        document.Dispose();
        throw NotAnObject();
    }

    private static void CheckUtf8(ReadOnlySpan<byte> utf8)
    {
        if (!System.Text.Unicode.Utf8.IsValid(utf8)) throw DdException.BadRequest("malformed JSON: body is not UTF-8");
    }

    private static DdException Malformed(JsonException e) => DdException.BadRequest($"malformed JSON: {e.Message}");

    private static DdException NotAnObject() => DdException.WrongType("request body must be a JSON object");

    /// <summary>The object at key, null when absent or JSON null; another type → 400/400.</summary>
    public static JsonObject? Obj(JsonObject? o, string key, string path)
    {
        var n = o?[key];
        if (n is null) return null;
        return n as JsonObject ?? throw DdException.WrongType($"'{path}' must be an object");
    }

    /// <summary>A string at key, null when absent.</summary>
    public static string? Str(JsonObject? o, string key, string path)
    {
        var n = o?[key];
        if (n is null) return null;
        if (n is JsonValue v && v.TryGetValue(out string? s)) return s;
        throw DdException.WrongType($"'{path}' must be a string");
    }

    /// <summary>A boolean at key (DeepDetect clients sometimes send "true"/"false" strings; accepted).</summary>
    public static bool? Bool(JsonObject? o, string key, string path)
    {
        var n = o?[key];
        if (n is null) return null;
        if (n is JsonValue v)
        {
            if (v.TryGetValue(out bool b)) return b;
            if (v.TryGetValue(out string? s) && bool.TryParse(s, out b)) return b;
        }
        throw DdException.WrongType($"'{path}' must be a boolean");
    }

    /// <summary>An integer at key.</summary>
    public static int? Int(JsonObject? o, string key, string path)
    {
        var n = o?[key];
        if (n is null) return null;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number)
        {
            if (v.TryGetValue(out int i)) return i;
            if (v.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
        }
        throw DdException.WrongType($"'{path}' must be an integer");
    }

    /// <summary>A number at key.</summary>
    public static double? Num(JsonObject? o, string key, string path)
    {
        var n = o?[key];
        if (n is null) return null;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out double d)) return d;
        throw DdException.WrongType($"'{path}' must be a number");
    }

    /// <summary>A number or an array of numbers at key.</summary>
    public static float[]? Floats(JsonObject? o, string key, string path)
    {
        var n = o?[key];
        if (n is null) return null;
        if (n is JsonArray a)
        {
            var r = new float[a.Count];
            for (int i = 0; i < a.Count; i++)
            {
                if (a[i] is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out double d)) r[i] = (float)d;
                else throw DdException.WrongType($"'{path}[{i}]' must be a number");
            }
            return r;
        }
        if (n is JsonValue sv && sv.GetValueKind() == JsonValueKind.Number && sv.TryGetValue(out double one)) return [(float)one];
        throw DdException.WrongType($"'{path}' must be a number or an array of numbers");
    }

    /// <summary>
    /// predict's data: an array of strings at key. A string too long to be a path (see
    /// <see cref="DataString.MaxPathChars"/>) that is plain base64 comes back decoded, straight from the body's UTF-8
    /// (never materialised as a string); every other one as its text.
    /// </summary>
    public static List<DataString>? Data(JsonObject? o, string key, string path)
    {
        var n = o?[key];
        if (n is null) return null;
        if (n is not JsonArray a) throw DdException.WrongType($"'{path}' must be an array of strings");
        var r = new List<DataString>(a.Count);
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is not JsonValue v || v.GetValueKind() != JsonValueKind.String) throw DdException.WrongType($"'{path}[{i}]' must be a string");
            if (v.TryGetValue(out JsonElement e) && System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(e).Length > DataString.MaxPathChars + 2
                && e.TryGetBytesFromBase64(out var bytes) && bytes.Length > DataString.MaxPathChars / 4 * 3)
                r.Add(new DataString(null, bytes));
            else r.Add(new DataString(v.GetValue<string>(), null));
        }
        return r;
    }

    /// <summary>An array of strings at key.</summary>
    public static List<string>? Strings(JsonObject? o, string key, string path)
    {
        var n = o?[key];
        if (n is null) return null;
        if (n is not JsonArray a) throw DdException.WrongType($"'{path}' must be an array of strings");
        var r = new List<string>(a.Count);
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] is JsonValue v && v.TryGetValue(out string? s)) r.Add(s);
            else throw DdException.WrongType($"'{path}[{i}]' must be a string");
        }
        return r;
    }
}
