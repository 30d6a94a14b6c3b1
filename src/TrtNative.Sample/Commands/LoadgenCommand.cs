using System.CommandLine;
using System.Text.Json.Nodes;
using TrtNative.Cuda;
using TrtNative.Runtime;
using TrtNative.Sample.LoadGen;

namespace TrtNative.Sample.Commands;

/// <summary>
/// loadgen --service NAME [--url URL] [--create BODY.json] [--concurrency 1,16,64,256] [--duration 15s] [--warmup 2s]
/// [--images DIR | --synthetic 640x480,1920x1080 [--synthetic-count N] [--synthetic-dir DIR]] [--base64]
/// [--images-per-request N] [--best N] [--timeout 60s] [--max-requests N] [--json FILE] [--engine-plan PLAN]
/// [--reference-service NAME]:
/// POST /predict load against a DeepDetect-compatible server, one concurrency level after the other; per level
/// images/s, client latency p50/p99, errors and the average batch the server formed; with --engine-plan also the
/// engine's own images/s at that batch (measured here after the levels, with bench's timing); with
/// --reference-service, before the levels, each image's top-1 and scores against that service's.
/// </summary>
internal static class LoadgenCommand
{
    public static Command Create()
    {
        var command = new Command("loadgen", "POST /predict load per concurrency level against a DeepDetect-compatible server: images/s, " +
                                             "latency p50/p99, errors, the server's average batch (and the engine's own images/s at it).");
        var url = new Option<string>("--url") { Description = "the server", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var service = new Option<string>("--service") { Description = "service name", Required = true };
        var create = new Option<FileInfo?>("--create") { Description = "PUT /services body (JSON file) used when the service does not exist" };
        var concurrency = new Option<string>("--concurrency") { Description = "concurrency levels", DefaultValueFactory = _ => "1,16,64,256" };
        var duration = new Option<string>("--duration") { Description = "time per level (e.g. 15s)", DefaultValueFactory = _ => "15s" };
        var warmup = new Option<string>("--warmup") { Description = "unmeasured time before each level", DefaultValueFactory = _ => "2s" };
        var images = new Option<string?>("--images") { Description = "folder of images to send" };
        var synthetic = new Option<string>("--synthetic") { Description = "sizes of synthetic JPEGs", DefaultValueFactory = _ => "640x480,1920x1080" };
        var syntheticCount = new Option<int>("--synthetic-count") { Description = "synthetic JPEGs per size", DefaultValueFactory = _ => 4 }.AtLeast(1);
        var syntheticDir = new Option<string?>("--synthetic-dir") { Description = "where synthetic JPEGs are written" };
        var base64 = new Option<bool>("--base64") { Description = "send images as base64 in the body instead of file paths" };
        var perRequest = new Option<int>("--images-per-request") { Description = "images in one predict", DefaultValueFactory = _ => 1 }.AtLeast(1);
        var best = new Option<int>("--best") { Description = "output.best", DefaultValueFactory = _ => 1 };
        var timeout = new Option<string>("--timeout") { Description = "per-request timeout", DefaultValueFactory = _ => "60s" };
        var readyTimeout = new Option<string?>("--ready-timeout") { Description = "how long to wait for the service to be ready" };
        var maxRequests = new Option<long?>("--max-requests") { Description = "stop a level after this many requests" };
        var json = new Option<string?>("--json") { Description = "write the report as JSON to this file" };
        var plan = new Option<string?>("--engine-plan") { Description = "engine plan to time at each level's average batch (needs a GPU)" };
        var reference = new Option<string?>("--reference-service")
        {
            Description = "before the levels, predict each image (as the levels send it, all classes) on this service too and report top-1 " +
                          "agreement and the scores' relative L2; the service must exist: it is waited for while it builds, never created (not by --create either)",
        };
        foreach (var opt in new Option[] { url, service, create, concurrency, duration, warmup, images, synthetic, syntheticCount, syntheticDir,
                                           base64, perRequest, best, timeout, readyTimeout, maxRequests, json, plan, reference })
            command.Options.Add(opt);
        Cli.SetAction(command, r =>
        {
            LoadGenOptions o;
            try
            {
                o = new LoadGenOptions
                {
                    Server = new Uri(r.GetValue(url)!),
                    Service = r.GetValue(service)!,
                    Concurrency = LoadGenOptions.ParseLevels(r.GetValue(concurrency)!),
                    Duration = LoadGenOptions.ParseDuration(r.GetValue(duration)!, positive: true),
                    Warmup = LoadGenOptions.ParseDuration(r.GetValue(warmup)!),
                    ImageFolder = r.GetValue(images),
                    SyntheticSizes = LoadGenOptions.ParseSizes(r.GetValue(synthetic)!),
                    SyntheticCount = r.GetValue(syntheticCount),
                    Base64 = r.GetValue(base64),
                    ImagesPerRequest = r.GetValue(perRequest),
                    Best = r.GetValue(best),
                    RequestTimeout = LoadGenOptions.ParseDuration(r.GetValue(timeout)!, positive: true),
                };
                if (r.GetValue(syntheticDir) is { } dir) o.SyntheticFolder = dir;
                if (r.GetValue(readyTimeout) is { } rt) o.ReadyTimeout = LoadGenOptions.ParseDuration(rt, positive: true);
                if (r.GetValue(maxRequests) is { } max) o.MaxRequestsPerLevel = max;
                if (r.GetValue(reference) is { } refName)
                    o.ReferenceService = !string.IsNullOrWhiteSpace(refName) ? refName : throw new FormatException("--reference-service: no service name given");
                if (r.GetValue(create) is { } body)
                    o.CreateBody = JsonNode.Parse(File.ReadAllText(body.FullName)) as JsonObject ?? throw new FormatException("--create: the file is not a JSON object");
            }
            catch (Exception e) when (e is FormatException or OverflowException or UriFormatException or System.Text.Json.JsonException)
            {
                Console.Error.WriteLine("loadgen: " + e.Message);
                Console.Error.WriteLine("See 'TrtNative.Sample loadgen --help'.");
                return Cli.Usage;
            }
            return Run(o, r.GetValue(json), r.GetValue(plan));
        });
        return command;
    }

    public static int Run(LoadGenOptions o, string? json, string? plan)
    {
        var images = o.ImageFolder is not null ? LoadImages.FromFolder(o.ImageFolder) : LoadImages.Synthetic(o.SyntheticSizes, o.SyntheticCount, o.SyntheticFolder);
        if (o.ImageFolder is null && !o.Base64)
            Console.WriteLine($"synthetic JPEGs in {o.SyntheticFolder} are sent as paths: the server must read that folder (--allowed-root), or use --base64");
        LoadReport report;
        using (var gen = new LoadGenerator(o, Console.WriteLine))
        {
            try
            {
                report = gen.RunAsync(images).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is InvalidOperationException or HttpRequestException)
            {
                Console.Error.WriteLine("loadgen: " + e.Message);
                return 1;
            }
        }
        if (plan is not null)
        {
            try
            {
                report.Engine = MeasureEngine(plan, report.Levels);
            }
            catch (TrtNativeException e)
            {
                // The load figures are still worth printing.
                report.Engine = new EngineReport(plan, $"cannot measure the engine: ({e.Code}) {e.Message}", []);
            }
        }
        Console.WriteLine();
        Console.Write(report.Table());
        if (json is not null)
        {
            File.WriteAllText(json, report.ToJson());
            Console.WriteLine("wrote " + json);
        }
        return report.Levels.All(l => l.Succeeded > 0) ? 0 : 1;
    }

    /// <summary>The engine alone at each level's average batch (rounded, within the plan's profile); an error without a GPU.</summary>
    private static EngineReport MeasureEngine(string plan, List<LevelResult> levels)
    {
        if (!CudaPlatform.IsAvailable(out string reason)) return new EngineReport(plan, "cannot measure the engine on this machine: no usable GPU: " + reason, []);
        using var ctx = CudaContext.Create();
        using var engine = Engine.Load(ctx, plan);
        using var ec = engine.CreateContext();
        using var stream = CudaStream.Create(ctx);
        using var start = CudaEvent.Create(ctx);
        using var stop = CudaEvent.Create(ctx);
        var figures = new Dictionary<long, EngineFigure>();
        foreach (var level in levels)
        {
            if (level.Server.AvgBatchSize is not double avg) continue;
            long batch = EngineTiming.ClampBatch(engine, (long)Math.Round(avg));
            if (!figures.TryGetValue(batch, out var f))
            {
                var (median, _) = EngineTiming.Measure(engine, ec, stream, start, stop, batch, warmup: 20, iterations: 100);
                figures[batch] = f = new EngineFigure(batch, Math.Round(median, 4), Math.Round(batch / median * 1000, 1));
                Console.WriteLine($"engine batch {batch}: {median:F3} ms median = {f.ImagesPerSecond:F0} images/s");
            }
            level.Engine = f;
        }
        return new EngineReport(plan, null, figures.Values.OrderBy(f => f.Batch).ToList());
    }
}
