using Microsoft.Extensions.Configuration;

namespace TrtNative.Server;

/// <summary>
/// Server settings, bound from the "TrtNative" configuration section (appsettings, environment
/// TrtNative__Port=…, or the command line: --host, --port, --demo, --allowed-root, --model-root …).
/// </summary>
public sealed class ServerOptions
{
    /// <summary>Address Kestrel listens on.</summary>
    public string Host { get; set; } = "127.0.0.1";
    /// <summary>Port Kestrel listens on.</summary>
    public int Port { get; set; } = 8080;
    /// <summary>Create the bundled "digits" demo service at start.</summary>
    public bool Demo { get; set; }
    /// <summary>Where the demo model lives (default: demo/digits found upward from the working or app directory).</summary>
    public string? DemoDir { get; set; }
    /// <summary>Directories whose files predict may read by path, besides every service's repository.</summary>
    public List<string> AllowedRoots { get; set; } = [];
    /// <summary>
    /// Directories model repositories must be inside (repeatable --model-root); none configured means
    /// <see cref="DefaultModelRoot"/>. See <see cref="EffectiveModelRoots"/>.
    /// </summary>
    public List<string> ModelRoots { get; set; } = [];
    /// <summary>Roots the server adds for itself (the --demo repository's folder); not configurable.</summary>
    internal List<string> ServerModelRoots { get; } = [];

    /// <summary>The model root when none is configured: "models" under the working directory.</summary>
    public static string DefaultModelRoot => Path.Combine(Directory.GetCurrentDirectory(), "models");

    /// <summary>The configured model roots (or the default), then the server's own.</summary>
    public IReadOnlyList<string> EffectiveModelRoots =>
        [.. ModelRoots.Count > 0 ? ModelRoots : [DefaultModelRoot], .. ServerModelRoots];
    /// <summary>Longest time the first request of a batch waits for others to join it.</summary>
    public double MaxBatchDelayMs { get; set; } = 2.0;
    /// <summary>Images waiting per service before new predicts are refused.</summary>
    public int MaxQueue { get; set; } = 1024;
    /// <summary>How long a predict waits for a service's engine build before failing with 409/1008.</summary>
    public double BuildWaitSeconds { get; set; } = 30;
    /// <summary>
    /// How long creating a CPU service (ONNX Runtime) waits for its model to load: as in DeepDetect, a model ONNX Runtime
    /// refuses answers 400/1006 naming why and leaves no service; one still loading after this answers 201 and goes on.
    /// GPU engine builds (minutes) always go on in the background.
    /// </summary>
    public double CreateWaitSeconds { get; set; } = 30;
    /// <summary>Largest request body accepted.</summary>
    public long MaxRequestBytes { get; set; } = 64L << 20;
    /// <summary>Most images one predict may carry (directories included).</summary>
    public int MaxImagesPerRequest { get; set; } = 1024;
    /// <summary>Largest decoded image (width × height).</summary>
    public long MaxImagePixels { get; set; } = 40_000_000;
    /// <summary>Largest image fetched from an http(s) URL.</summary>
    public long MaxImageDownloadBytes { get; set; } = 32L << 20;
    /// <summary>Time limit for one image fetch.</summary>
    public double ImageDownloadTimeoutSeconds { get; set; } = 15;
    /// <summary>Largest model.init archive fetched.</summary>
    public long MaxModelDownloadBytes { get; set; } = 4L << 30;
    /// <summary>Time limit for fetching a model.init archive.</summary>
    public double ModelDownloadTimeoutSeconds { get; set; } = 600;
    /// <summary>Largest total size extracted from a model archive.</summary>
    public long MaxExtractBytes { get; set; } = 8L << 30;
    /// <summary>Most entries accepted in a model archive.</summary>
    public int MaxArchiveEntries { get; set; } = 10_000;
    /// <summary>ONNX Runtime intra-op threads (0 = its default).</summary>
    public int CpuThreads { get; set; }
    /// <summary>Never use a GPU even when one is present.</summary>
    public bool ForceCpu { get; set; }
    /// <summary>GPU services decode JPEGs on the GPU (nvJPEG) where they can; false keeps every image on the CPU path (A/B).</summary>
    public bool GpuDecode { get; set; } = true;
    /// <summary>
    /// GPU lanes per GPU service replica: streams with their own execution context (1 or 2). Two (the default) let one
    /// batch's upload, decode and normalisation overlap the other batch's engine run, for a second activation arena;
    /// one keeps a single stream and context (less device memory).
    /// </summary>
    public int GpuLanes { get; set; } = 2;
    /// <summary>
    /// Batches a GPU service replica keeps in flight (2 to 4), each with its own staging set; their engine runs take
    /// the lanes in turn. More overlap a batch's decoding with more engine runs, for pinned memory and a JPEG decoder each.
    /// </summary>
    public int GpuBatchesInFlight { get; set; } = 2;
    /// <summary>
    /// nvJPEG decoders each GPU batch's JPEGs are split between (1 to 4), each decoding its part at once on a thread of
    /// its own: nvJPEG holds the calling thread while it parses a batch's files, and that host time bounded the
    /// server's JPEG throughput on the H100. One (the default) decodes the whole batch on the batching thread.
    /// </summary>
    public int JpegDecodersPerBatch { get; set; } = 1;

    /// <summary>Longest build or creation wait accepted (a day): TimeSpan refuses far larger ones.</summary>
    public const double MaxWaitSeconds = 86400;

    /// <summary>Reads the "TrtNative" section; a setting out of its range is an <see cref="ArgumentException"/> naming it.</summary>
    public static ServerOptions From(IConfiguration cfg)
    {
        var o = new ServerOptions();
        cfg.GetSection("TrtNative").Bind(o);
        if (o.GpuLanes is < 1 or > Inference.TrtNativeGpuBackend.MaxLanes)
            throw new ArgumentException($"--gpu-lanes (TrtNative:GpuLanes) must be 1 or {Inference.TrtNativeGpuBackend.MaxLanes}, got {o.GpuLanes}");
        if (o.GpuBatchesInFlight is < 2 or > Inference.TrtNativeGpuBackend.MaxBatchesInFlight)
            throw new ArgumentException($"--gpu-batches-in-flight (TrtNative:GpuBatchesInFlight) must be 2 to {Inference.TrtNativeGpuBackend.MaxBatchesInFlight}, got {o.GpuBatchesInFlight}");
        if (o.JpegDecodersPerBatch is < 1 or > Inference.TrtNativeGpuBackend.MaxJpegDecodersPerBatch)
            throw new ArgumentException($"--jpeg-decoders-per-batch (TrtNative:JpegDecodersPerBatch) must be 1 to {Inference.TrtNativeGpuBackend.MaxJpegDecodersPerBatch}, got {o.JpegDecodersPerBatch}");
        // A negative or NaN wait would fail every predict or creation with an exception of the runtime's, not a 4xx.
        foreach (var (flag, key, seconds) in new[] { ("--build-wait-seconds", "BuildWaitSeconds", o.BuildWaitSeconds),
                                                    ("--create-wait-seconds", "CreateWaitSeconds", o.CreateWaitSeconds) })
            if (!(seconds >= 0 && seconds <= MaxWaitSeconds))
                throw new ArgumentException($"{flag} (TrtNative:{key}) must be 0 to {MaxWaitSeconds} seconds, got {seconds}");
        return o;
    }

    /// <summary>Command-line switches mapped onto the configuration keys.</summary>
    public static readonly Dictionary<string, string> SwitchMappings = new()
    {
        ["--host"] = "TrtNative:Host",
        ["--port"] = "TrtNative:Port",
        ["--demo"] = "TrtNative:Demo",
        ["--demo-dir"] = "TrtNative:DemoDir",
        ["--max-batch-delay-ms"] = "TrtNative:MaxBatchDelayMs",
        ["--max-queue"] = "TrtNative:MaxQueue",
        ["--build-wait-seconds"] = "TrtNative:BuildWaitSeconds",
        ["--create-wait-seconds"] = "TrtNative:CreateWaitSeconds",
        ["--cpu-threads"] = "TrtNative:CpuThreads",
        ["--cpu"] = "TrtNative:ForceCpu",
        ["--gpu-decode"] = "TrtNative:GpuDecode",
        ["--gpu-lanes"] = "TrtNative:GpuLanes",
        ["--gpu-batches-in-flight"] = "TrtNative:GpuBatchesInFlight",
        ["--jpeg-decoders-per-batch"] = "TrtNative:JpegDecodersPerBatch",
    };

    /// <summary>
    /// Turns our command line into configuration pairs: flags without a value (--demo, --cpu) become
    /// "true", each --allowed-root DIR becomes TrtNative:AllowedRoots:i and each --model-root DIR TrtNative:ModelRoots:i.
    /// </summary>
    public static Dictionary<string, string?> ParseArgs(string[] args, List<string> rest)
    {
        var d = new Dictionary<string, string?>();
        int roots = 0, modelRoots = 0;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? val = null;
            int eq = a.IndexOf('=');
            if (a.StartsWith("--") && eq > 0) { val = a[(eq + 1)..]; a = a[..eq]; }
            if (a == "--allowed-root")
            {
                val ??= i + 1 < args.Length ? args[++i] : throw new ArgumentException("--allowed-root needs a directory");
                d[$"TrtNative:AllowedRoots:{roots++}"] = val;
                continue;
            }
            if (a == "--model-root")
            {
                val ??= i + 1 < args.Length ? args[++i] : throw new ArgumentException("--model-root needs a directory");
                d[$"TrtNative:ModelRoots:{modelRoots++}"] = val;
                continue;
            }
            if (a is "--demo" or "--cpu")
            {
                if (val == null && i + 1 < args.Length && (args[i + 1] is "true" or "false")) val = args[++i];
                d[SwitchMappings[a]] = val ?? "true";
                continue;
            }
            if (SwitchMappings.TryGetValue(a, out var key))
            {
                val ??= i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
                d[key] = val;
                continue;
            }
            rest.Add(args[i]);
        }
        return d;
    }
}
