using System.Globalization;
using System.Text.Json.Nodes;

namespace TrtNative.Sample.LoadGen;

/// <summary>What one load-generator run does: the server and service, the load levels and the images it sends.</summary>
internal sealed class LoadGenOptions
{
    /// <summary>The server's base address.</summary>
    public Uri Server { get; set; } = new("http://127.0.0.1:8080");

    /// <summary>The service predicts go to.</summary>
    public string Service { get; set; } = "";

    /// <summary>A DeepDetect creation body (PUT /services/{name}) sent when the service does not exist; null: it must exist.</summary>
    public JsonObject? CreateBody { get; set; }

    /// <summary>
    /// A service to compare the measured one with before the levels (each image once on both, every class: top-1 and
    /// relative L2); it must exist (it is never created); null: no comparison.
    /// </summary>
    public string? ReferenceService { get; set; }

    /// <summary>Concurrent clients per level, one level after the other.</summary>
    public int[] Concurrency { get; set; } = [1, 16, 64, 256];

    /// <summary>Measured time per level.</summary>
    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Unmeasured load before each level (connections opened, server warmed up).</summary>
    public TimeSpan Warmup { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Upper bound on the requests of one measured level (0: only the duration bounds it).</summary>
    public long MaxRequestsPerLevel { get; set; }

    /// <summary>JPEGs to send (every *.jpg, *.jpeg, *.png there); null: synthetic ones.</summary>
    public string? ImageFolder { get; set; }

    /// <summary>Sizes of the synthetic JPEGs (width, height).</summary>
    public (int Width, int Height)[] SyntheticSizes { get; set; } = [(640, 480), (1920, 1080)];

    /// <summary>Synthetic JPEGs per size.</summary>
    public int SyntheticCount { get; set; } = 4;

    /// <summary>Where synthetic JPEGs are written when sent as paths (the server must be allowed to read it).</summary>
    public string SyntheticFolder { get; set; } = Path.Combine(Path.GetTempPath(), "trtnative-loadgen");

    /// <summary>Send the images' bytes as base64 in <c>data</c> instead of their paths.</summary>
    public bool Base64 { get; set; }

    /// <summary>Images per predict.</summary>
    public int ImagesPerRequest { get; set; } = 1;

    /// <summary>parameters.output.best of each predict.</summary>
    public int Best { get; set; } = 1;

    /// <summary>Client timeout of one request (it then counts as an error).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long to wait for the service's engine to be built.</summary>
    public TimeSpan ReadyTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The largest side of a synthetic image.</summary>
    public const int MaxSyntheticSide = 16384;

    /// <summary>
    /// "15s", "500ms", "2m" or a plain number of seconds; <paramref name="positive"/>: zero is refused too.
    /// </summary>
    public static TimeSpan ParseDuration(string s, bool positive = false)
    {
        s = s.Trim();
        (string num, double scale) = s.EndsWith("ms", StringComparison.OrdinalIgnoreCase) ? (s[..^2], 0.001)
            : s.EndsWith('s') || s.EndsWith('S') ? (s[..^1], 1.0)
            : s.EndsWith('m') || s.EndsWith('M') ? (s[..^1], 60.0)
            : (s, 1.0);
        if (!double.TryParse(num, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v < 0 || !(v * scale <= TimeSpan.MaxValue.TotalSeconds))
            throw new FormatException($"'{s}' is not a duration (e.g. 15s, 500ms, 2m)");
        var t = TimeSpan.FromSeconds(v * scale);
        // A positive value below TimeSpan's 100 ns tick is zero too.
        if (positive && t <= TimeSpan.Zero) throw new FormatException($"'{s}' is not a positive duration");
        return t;
    }

    /// <summary>"640x480,1920x1080" (at least one).</summary>
    public static (int Width, int Height)[] ParseSizes(string s)
    {
        var sizes = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p =>
        {
            var wh = p.Split('x', 'X');
            if (wh.Length != 2 || !int.TryParse(wh[0], out int w) || !int.TryParse(wh[1], out int h) || w < 1 || h < 1)
                throw new FormatException($"'{p}' is not a size WIDTHxHEIGHT");
            // Synthetic images are made in memory, width x height x 4 bytes (JPEG's own limit is 65535).
            if (w > MaxSyntheticSide || h > MaxSyntheticSide) throw new FormatException($"'{p}': each side must be at most {MaxSyntheticSide}");
            return (w, h);
        }).ToArray();
        return sizes.Length > 0 ? sizes : throw new FormatException("no image size given (WIDTHxHEIGHT,...)");
    }

    /// <summary>"1,16,64,256" (each ≥ 1).</summary>
    public static int[] ParseLevels(string s) => ParseCounts(s, "--concurrency", "concurrency level", min: 1);

    /// <summary>
    /// A comma-separated list of whole numbers, each <paramref name="min"/> or more: "1,16,64" (spaces and empty items
    /// ignored; at least one). A wrong list throws a <see cref="FormatException"/> that names <paramref name="option"/>
    /// and calls an item "a <paramref name="noun"/>": "--decoders: 'x' is not a count (0 or more)".
    /// </summary>
    public static int[] ParseCounts(string text, string option, string noun, int min) =>
        ParseItems(text, option, noun, p => TryCount(p, min, out int n) ? n
            : throw new FormatException($"{option}: '{p}' is not a {noun} ({min} or more)"));

    /// <summary>
    /// As <see cref="ParseCounts"/>, where an item may also be a range A-B with <paramref name="min"/> ≤ A ≤ B:
    /// "16,64,16-24" is (16, 16), (64, 64), (16, 24).
    /// </summary>
    public static (int Min, int Max)[] ParseRanges(string text, string option, string noun, int min) =>
        ParseItems(text, option, noun, p =>
            p.Split('-') is { Length: 1 or 2 } ends && TryCount(ends[0], min, out int a) && TryCount(ends[^1], min, out int b) && a <= b ? (a, b)
            : throw new FormatException($"{option}: '{p}' is neither a {noun} ({min} or more) nor a range A-B with {min} <= A <= B"));

    private static T[] ParseItems<T>(string text, string option, string noun, Func<string, T> parse)
    {
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(parse).ToArray();
        return items.Length > 0 ? items : throw new FormatException($"{option}: no {noun} given");
    }

    private static bool TryCount(string s, int min, out int n) => int.TryParse(s, out n) && n >= min;
}
