using System.Text.Json.Nodes;
using TrtNative.Cuda;
using TrtNative.Runtime;
using TrtNative.Sample.LoadGen;

namespace TrtNative.Sample.Commands;

/// <summary>
/// loadgen --service NAME [--url URL] [--create BODY.json] [--concurrency 1,16,64,256] [--duration 15s] [--warmup 2s]
/// [--images DIR | --synthetic 640x480,1920x1080 [--synthetic-count N] [--synthetic-dir DIR]] [--base64]
/// [--images-per-request N] [--best N] [--timeout 60s] [--max-requests N] [--json FILE] [--engine-plan PLAN]:
/// POST /predict load against a DeepDetect-compatible server, one concurrency level after the other; per level
/// images/s, client latency p50/p99, errors and the average batch the server formed; with --engine-plan also the
/// engine's own images/s at that batch (measured here after the levels, with bench's timing).
/// </summary>
internal static class LoadgenCommand
{
    public const string Usage =
        "loadgen --service NAME [--url http://127.0.0.1:8080] [--create BODY.json] [--concurrency 1,16,64,256] [--duration 15s] [--warmup 2s] " +
        "[--images DIR | --synthetic 640x480,1920x1080 [--synthetic-count 4] [--synthetic-dir DIR]] [--base64] [--images-per-request 1] [--best 1] " +
        "[--timeout 60s] [--max-requests N] [--json FILE] [--engine-plan PLAN]\n" +
        "      POST /predict load per concurrency level: images/s, latency p50/p99, errors, the server's average batch (and the engine's own images/s at it)";

    public static int Run(string[] args)
    {
        var o = new LoadGenOptions();
        string? json = null, plan = null;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{a} needs a value");
                switch (a)
                {
                    case "--url": o.Server = new Uri(Next()); break;
                    case "--service": o.Service = Next(); break;
                    case "--create": o.CreateBody = JsonNode.Parse(File.ReadAllText(Next())) as JsonObject ?? throw new FormatException("--create: the file is not a JSON object"); break;
                    case "--concurrency": o.Concurrency = LoadGenOptions.ParseLevels(Next()); break;
                    case "--duration": o.Duration = LoadGenOptions.ParseDuration(Next()); break;
                    case "--warmup": o.Warmup = LoadGenOptions.ParseDuration(Next()); break;
                    case "--images": o.ImageFolder = Next(); break;
                    case "--synthetic": o.SyntheticSizes = LoadGenOptions.ParseSizes(Next()); break;
                    case "--synthetic-count": o.SyntheticCount = int.Parse(Next()); break;
                    case "--synthetic-dir": o.SyntheticFolder = Next(); break;
                    case "--base64": o.Base64 = true; break;
                    case "--images-per-request": o.ImagesPerRequest = int.Parse(Next()); break;
                    case "--best": o.Best = int.Parse(Next()); break;
                    case "--timeout": o.RequestTimeout = LoadGenOptions.ParseDuration(Next()); break;
                    case "--ready-timeout": o.ReadyTimeout = LoadGenOptions.ParseDuration(Next()); break;
                    case "--max-requests": o.MaxRequestsPerLevel = long.Parse(Next()); break;
                    case "--json": json = Next(); break;
                    case "--engine-plan": plan = Next(); break;
                    default: throw new FormatException($"unknown argument '{a}'");
                }
            }
            if (o.Service.Length == 0) throw new FormatException("--service NAME is required");
            if (o.ImagesPerRequest < 1 || o.SyntheticCount < 1) throw new FormatException("--images-per-request and --synthetic-count must be >= 1");
        }
        catch (Exception e) when (e is FormatException or OverflowException or UriFormatException or IOException or System.Text.Json.JsonException)
        {
            Console.Error.WriteLine("loadgen: " + e.Message);
            Console.Error.WriteLine("usage: TrtNative.Sample " + Usage);
            return 2;
        }

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
        using var ec = engine.CreateExecutionContext();
        using var stream = CudaStream.Create(ctx);
        using var start = CudaEvent.Create(ctx);
        using var stop = CudaEvent.Create(ctx);
        var input = engine.Inputs[0];
        var figures = new Dictionary<long, EngineFigure>();
        foreach (var level in levels)
        {
            if (level.Server.AvgBatchSize is not double avg) continue;
            long batch = Math.Clamp((long)Math.Round(avg), Math.Max(1, input.MinShape[0]), input.MaxShape[0]);
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
