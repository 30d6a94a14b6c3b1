using System.Text.Json.Nodes;
using TrtNative.Server.Api;
using TrtNative.Server.Imaging;
using TrtNative.Server.Inference;
using TrtNative.Server.Metrics;
using TrtNative.Server.Repository;
using TrtNative.Server.Services;

namespace TrtNative.Server;

/// <summary>Builds the web application (used by Program and by tests that start real Kestrel).</summary>
public static class ServerApp
{
    /// <summary>Usage text for --help.</summary>
    public const string Usage = """
        TrtNative.Server: a DeepDetect-compatible REST server for ONNX image classifiers.
        Options:
          --host ADDR              listen address (default 127.0.0.1)
          --port N                 listen port (default 8080)
          --demo                   create the bundled 'digits' demo service at start
          --demo-dir DIR           where the demo model is (default: demo/digits found upward)
          --model-root DIR         model repositories must be inside it (repeatable; default ./models)
          --allowed-root DIR       a directory predict may read image paths from (repeatable)
          --max-batch-delay-ms X   longest wait for a batch to fill (default 2)
          --max-queue N            images waiting per service before refusing (default 1024)
          --build-wait-seconds X   how long a predict waits for an engine build (default 30)
          --create-wait-seconds X  how long creating a CPU service waits for its model to load (default 30)
          --cpu-threads N          ONNX Runtime threads (default: its own)
          --cpu                    never use a GPU
          --gpu-decode true|false  decode JPEGs on the GPU (nvJPEG) where possible (default true)
          --gpu-lanes N            GPU streams with their own execution context per GPU, 1 or 2 (default 2)
          --gpu-batches-in-flight N  batches a GPU keeps in flight, 2 to 4 (default 2)
          --jpeg-decoders-per-batch N  nvJPEG decoders a GPU batch's JPEGs are split between, 1 to 4 (default 1)
        Any TrtNative:* setting can also come from appsettings.json or TrtNative__Name environment variables.
        """;

    /// <summary>Creates the app from command-line arguments (our options; see <see cref="Usage"/>).</summary>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var rest = new List<string>();
        var cli = ServerOptions.ParseArgs(args, rest);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = rest.ToArray() });
        builder.Configuration.AddInMemoryCollection(cli);
        configure?.Invoke(builder);
        var opts = ServerOptions.From(builder.Configuration);
        builder.WebHost.UseUrls($"http://{(opts.Host.Contains(':') ? $"[{opts.Host}]" : opts.Host)}:{opts.Port}");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = opts.MaxRequestBytes + 1);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        builder.Services.AddSingleton(sp => ServerOptions.From(sp.GetRequiredService<IConfiguration>()));
        builder.Services.AddSingleton(_ => new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = true,
            MaxAutomaticRedirections = 5,
            ConnectTimeout = TimeSpan.FromSeconds(10),
        }) { Timeout = Timeout.InfiniteTimeSpan });
        builder.Services.AddServerMetrics();
        builder.Services.AddSingleton<BackendFactory>();
        builder.Services.AddSingleton<ModelRepository>();
        builder.Services.AddSingleton<ImageSources>();
        builder.Services.AddSingleton<ServiceRegistry>();
        builder.Services.AddSingleton<Predictor>();
        // Failures are thrown and answered in one place (the DeepDetect status table, or KServe's {"error"}).
        builder.Services.AddExceptionHandler<ApiExceptionHandler>();
        builder.Services.AddOpenApi();
        builder.Services.AddHealthChecks().AddCheck<ServicesReadyCheck>("services", tags: [ServicesReadyCheck.ReadyTag]);

        var app = builder.Build();
        Endpoints.Map(app);
        KServeEndpoints.Map(app);
        app.MapOpenApi(); // /openapi/v1.json: both APIs
        app.Lifetime.ApplicationStopping.Register(() =>
            app.Services.GetRequiredService<ServiceRegistry>().DisposeAsync().AsTask().GetAwaiter().GetResult());
        var runtimeOpts = app.Services.GetRequiredService<ServerOptions>();
        if (runtimeOpts.Demo)
            app.Lifetime.ApplicationStarted.Register(() => CreateDemo(app, runtimeOpts));
        return app;
    }

    /// <summary>Finds demo/digits upward from the working directory and the app directory.</summary>
    public static string? FindDemoDir(string? configured)
    {
        if (configured != null) return Directory.Exists(configured) ? Path.GetFullPath(configured) : null;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                string c = Path.Combine(d.FullName, "demo", "digits");
                if (File.Exists(Path.Combine(c, "digits.onnx"))) return c;
            }
        }
        return null;
    }

    /// <summary>
    /// The 'digits' service: the committed model is copied to a writable repository in $TMP/trtnative-demo (config.json is
    /// written there, as DeepDetect does, so the git tree stays clean; that folder becomes a model root) and the demo's
    /// samples folder is an allowed root.
    /// </summary>
    public static void CreateDemo(WebApplication app, ServerOptions opts)
    {
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("TrtNative.Server.Demo");
        string? src = FindDemoDir(opts.DemoDir);
        if (src == null)
        {
            log.LogError("--demo: demo/digits/digits.onnx not found above {Cwd}; pass --demo-dir", Directory.GetCurrentDirectory());
            return;
        }
        // The demo's repository is the server's own: its folder is a model root, and the repository is marked as made here.
        string demoRoot = Path.Combine(Path.GetTempPath(), "trtnative-demo");
        string repo = Path.Combine(demoRoot, "digits");
        app.Services.GetRequiredService<ServerOptions>().ServerModelRoots.Add(demoRoot);
        Directory.CreateDirectory(repo);
        ModelRepository.MarkCreated(repo);
        foreach (var f in new[] { "digits.onnx", "corresp.txt" }) File.Copy(Path.Combine(src, f), Path.Combine(repo, f), overwrite: true);
        File.Delete(Path.Combine(repo, ModelRepository.ConfigFile)); // the demo's parameters below are the truth
        app.Services.GetRequiredService<ServerOptions>().AllowedRoots.Add(src);
        var body = DemoRequest(repo);
        try
        {
            app.Services.GetRequiredService<ServiceRegistry>().CreateAsync("digits", body, CancellationToken.None).GetAwaiter().GetResult();
            log.LogInformation("demo service 'digits' created from {Src}; try:\n  curl -s -X POST http://{Host}:{Port}/predict -d '{{\"service\":\"digits\",\"data\":[\"{Sample}\"]}}'",
                src, opts.Host, opts.Port, Path.Combine(src, "samples", "digit_3.png"));
        }
        catch (DdException e)
        {
            log.LogError("demo service could not be created: {Msg}", e.Message);
        }
    }

    /// <summary>The creation body of the demo service (8x8 grey, pixel/255, area downscale).</summary>
    public static JsonObject DemoRequest(string repo) => new()
    {
        ["description"] = "sklearn digits CNN (demo)",
        ["mllib"] = "tensorrt",
        ["type"] = "supervised",
        ["model"] = new JsonObject { ["repository"] = repo },
        ["parameters"] = new JsonObject
        {
            ["input"] = new JsonObject
            {
                ["connector"] = "image", ["width"] = 8, ["height"] = 8, ["bw"] = true, ["scale"] = 1.0 / 255.0, ["interp"] = "area",
            },
            ["mllib"] = new JsonObject { ["maxBatchSize"] = 32, ["nclasses"] = 10 },
            ["output"] = new JsonObject { ["best"] = 3 },
        },
    };
}
