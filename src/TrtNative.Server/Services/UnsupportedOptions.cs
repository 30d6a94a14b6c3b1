using System.Text.Json.Nodes;
using TrtNative.Server.Api;

namespace TrtNative.Server.Services;

/// <summary>
/// DeepDetect options this server does not implement. A client that asks for one gets 400/1006 naming it, instead of
/// an answer that silently lacks what it asked for.
/// </summary>
public static class UnsupportedOptions
{
    // (section, key, what it would do in DeepDetect)
    private static readonly (string Section, string Key, string What)[] Options =
    [
        ("output", "bbox", "object detection boxes"),
        ("output", "image", "returning annotated images"),
        ("output", "template", "mustache output templates"),
        ("mllib", "extract_layer", "feature extraction from an inner layer"),
    ];

    /// <summary>Throws 400/1006 when <paramref name="parameters"/> (at JSON path <paramref name="path"/>) turns one of them on.</summary>
    public static void Check(JsonObject? parameters, string path)
    {
        if (parameters == null) return;
        foreach (var (section, key, what) in Options)
        {
            if (parameters[section] is not JsonObject o || !IsOn(o[key])) continue;
            throw DdException.BadMllib($"{path}.{section}.{key} is not supported by TrtNative.Server ({what}; only classification " +
                "outputs are served): remove it");
        }
    }

    // Absent, null, false and "" ask for nothing; anything else asks for the feature.
    private static bool IsOn(JsonNode? n) => n switch
    {
        null => false,
        JsonValue v when v.TryGetValue(out bool b) => b,
        JsonValue v when v.TryGetValue(out string? s) => !string.IsNullOrEmpty(s) && s != "false",
        _ => true,
    };
}
