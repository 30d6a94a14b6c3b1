using System.Text.Json;
using System.Text.Json.Nodes;
using TrtNative.Server.Api;

namespace TrtNative.Server.Inference;

/// <summary>
/// The GPUs a service asks for in <c>parameters.mllib.gpuid</c> (DeepDetect's field): one ordinal, a list of
/// ordinals, or every GPU of the machine (<c>"all"</c> or <c>-1</c>). Parsed once from the creation body; the
/// machine's GPU count is applied by <see cref="Resolve"/> when the service is created on a GPU.
/// </summary>
/// <param name="Ordinals">The listed ordinals in the order given (distinct, each ≥ 0); empty when <paramref name="All"/>.</param>
/// <param name="All">Every GPU of the machine.</param>
public sealed record GpuSelection(IReadOnlyList<int> Ordinals, bool All)
{
    /// <summary>The field's path in error messages.</summary>
    public const string Field = "parameters.mllib.gpuid";

    /// <summary>GPU 0, DeepDetect's default.</summary>
    public static GpuSelection Default { get; } = new([0], false);

    /// <summary>Every GPU.</summary>
    public static GpuSelection Every { get; } = new([], true);

    /// <summary>
    /// Reads <c>gpuid</c>: absent or null → GPU 0; an integer ≥ 0; -1 or "all" → every GPU; a non-empty array of
    /// distinct integers ≥ 0. Anything else is a 400/400 (wrong type) or 400/1006 (bad value) naming the field.
    /// </summary>
    public static GpuSelection Parse(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return Default;
            case JsonArray a:
                if (a.Count == 0) throw DdException.BadMllib($"{Field} is an empty list: give at least one GPU ordinal, \"all\" or -1");
                var list = new List<int>(a.Count);
                for (int i = 0; i < a.Count; i++)
                {
                    int g = Ordinal(a[i]) ?? throw DdException.WrongType($"'{Field}[{i}]' must be an integer GPU ordinal");
                    if (g < 0) throw DdException.BadMllib($"{Field}[{i}] is {g}: list entries must be GPU ordinals >= 0 (use \"all\" or -1 alone for every GPU)");
                    if (list.Contains(g)) throw DdException.BadMllib($"{Field} lists GPU {g} twice");
                    list.Add(g);
                }
                return new GpuSelection(list, false);
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                string s = v.GetValue<string>();
                if (string.Equals(s, "all", StringComparison.OrdinalIgnoreCase)) return Every;
                throw DdException.WrongType($"'{Field}' must be an integer, a list of integers, \"all\" or -1 (got the string '{s}')");
            default:
                int one = Ordinal(node) ?? throw DdException.WrongType($"'{Field}' must be an integer, a list of integers, \"all\" or -1");
                if (one == -1) return Every;
                if (one < 0) throw DdException.BadMllib($"{Field} must be >= 0, or -1 for every GPU (got {one})");
                return new GpuSelection([one], false);
        }
    }

    private static int? Ordinal(JsonNode? n)
    {
        if (n is not JsonValue v || v.GetValueKind() != JsonValueKind.Number) return null;
        if (v.TryGetValue(out int i)) return i;
        if (v.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
        return null;
    }

    /// <summary>
    /// The ordinals on a machine with <paramref name="gpuCount"/> GPUs: every one for <see cref="All"/>, else the
    /// listed ones, each of which must exist (400/1006 naming the ordinal and the machine's count).
    /// </summary>
    public IReadOnlyList<int> Resolve(int gpuCount)
    {
        if (All)
        {
            if (gpuCount < 1) throw DdException.BadMllib($"{Field} asks for every GPU but this machine has none");
            return Enumerable.Range(0, gpuCount).ToArray();
        }
        foreach (int g in Ordinals)
            if (g >= gpuCount) throw DdException.BadMllib($"{Field} {g} does not exist: this machine has {gpuCount} GPU(s)");
        return Ordinals;
    }

    /// <summary>As a request would write it: the ordinal, the list, or "all".</summary>
    public override string ToString() => All ? "all" : Ordinals.Count == 1 ? Ordinals[0].ToString() : $"[{string.Join(",", Ordinals)}]";
}
