using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using TrtNative.Runtime;
using TrtNative.Server.Api;
using TrtNative.Server.Imaging;
using TrtNative.Server.Inference;
using TrtNative.Server.Metrics;
using TrtNative.Server.Repository;

namespace TrtNative.Server.Services;

/// <summary>All services of this server: creation (validation, repository, background build), lookup, deletion.</summary>
public sealed class ServiceRegistry(ServerOptions opts, BackendFactory factory, ModelRepository repos, ServerMetrics metrics,
    ILogger<ServiceRegistry> log) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, ModelService> _services = new();
    private readonly ConcurrentDictionary<string, byte> _creating = new();

    /// <summary>Services in name order.</summary>
    public IEnumerable<ModelService> All => _services.Values.OrderBy(s => s.Def.Name, StringComparer.Ordinal);

    /// <summary>A service by (case-insensitive) name; 404/1002 when missing.</summary>
    public ModelService Get(string name) =>
        _services.TryGetValue(name.ToLowerInvariant(), out var s) ? s : throw DdException.ServiceNotFound(name.ToLowerInvariant());

    /// <summary>Roots predict may read files from: the configured ones and every service repository.</summary>
    public IReadOnlyList<string> AllowedRoots => opts.AllowedRoots.Concat(_services.Values.Select(s => s.Def.Repository)).ToList();

    /// <summary>Creates a service from a DeepDetect creation body.</summary>
    public async Task<ModelService> CreateAsync(string rawName, JsonObject body, CancellationToken ct)
    {
        string name = rawName.ToLowerInvariant();
        if (_services.ContainsKey(name) || !_creating.TryAdd(name, 0)) throw DdException.AlreadyExists(name);
        try
        {
            if (name.Length == 0) throw DdException.WrongType("service name is empty");
            // Whatever this creation changes in the repository (a directory made, files from model.init) is undone
            // unless it succeeds.
            using var change = PrepareRepository(body);
            var def = await DefineAsync(name, body, change, ct);
            var kind = factory.Select(def.Mllib.ToLowerInvariant() == "onnxruntime" ? "onnxruntime" : "tensorrt", out var reason);
            if (kind == BackendKind.Gpu)
            {
                // One replica per GPU; a CPU service has one backend whatever gpuid says (DeepDetect ignores it there too).
                var gpus = def.Gpus.Resolve(factory.GpuCount);
                def = def with { GpuIds = gpus, Spec = def.Spec with { GpuId = gpus[0] } };
            }
            var svc = new ModelService(def, factory, kind, reason, metrics, opts, log);
            try
            {
                // As DeepDetect, a CPU service is created once ONNX Runtime has loaded its model (bounded): a model it
                // refuses is a 400 naming why, with no service and the repository as it was.
                if (kind == BackendKind.Cpu && opts.CreateWaitSeconds > 0 &&
                    await svc.BuildEndsWithinAsync(TimeSpan.FromSeconds(opts.CreateWaitSeconds), ct) && svc.State == ServiceState.Failed)
                    throw DdException.BadMllib($"model '{def.Spec.ModelPath}' cannot be served: {svc.Error}");
                ModelRepository.WriteConfig(def.Repository, body);
                change.Commit();
            }
            catch
            {
                await svc.DisposeAsync();
                throw;
            }
            _services[name] = svc;
            log.LogInformation("service {Name}: {Model} on {Kind} ({Reason}), GPUs [{Gpus}], input {C}x{H}x{W}, max batch {B}",
                name, def.Spec.ModelPath, kind, reason, string.Join(",", def.GpuIds), def.Spec.Channels, def.Spec.Height, def.Spec.Width, def.Spec.MaxBatchSize);
            return svc;
        }
        finally
        {
            _creating.TryRemove(name, out _);
        }
    }

    // The checks that need no repository, then the repository itself (made when create_repository asks).
    private RepositoryChange PrepareRepository(JsonObject body)
    {
        string mllib = JsonRead.Str(body, "mllib", "mllib") ?? throw DdException.WrongType("'mllib' is missing");
        if (mllib.ToLowerInvariant() is not ("tensorrt" or "onnxruntime")) throw DdException.UnknownLibrary(mllib);
        var type = JsonRead.Str(body, "type", "type");
        if (type != null && type != "supervised") throw DdException.BadMllib($"type '{type}' is not supported (only 'supervised')");
        var model = JsonRead.Obj(body, "model", "model") ?? throw DdException.BadMllib("'model' with a 'repository' is missing");
        var parameters = JsonRead.Obj(body, "parameters", "parameters") ?? new JsonObject();
        string connector = JsonRead.Str(JsonRead.Obj(parameters, "input", "parameters.input"), "connector", "parameters.input.connector") ?? "";
        if (connector != "image") throw DdException.InputConnectorNotFound(connector.Length == 0 ? null : connector);
        string repoArg = JsonRead.Str(model, "repository", "model.repository") ?? throw DdException.BadMllib("model.repository is missing");
        bool create = JsonRead.Bool(model, "create_repository", "model.create_repository") ?? false;
        return repos.Prepare(repoArg, create);
    }

    private async Task<ServiceDefinition> DefineAsync(string name, JsonObject body, RepositoryChange change, CancellationToken ct)
    {
        string mllib = JsonRead.Str(body, "mllib", "mllib")!;
        string description = JsonRead.Str(body, "description", "description") ?? "";
        var model = JsonRead.Obj(body, "model", "model")!;
        var parameters = JsonRead.Obj(body, "parameters", "parameters") ?? new JsonObject();
        string repo = change.Repository;
        string? init = JsonRead.Str(model, "init", "model.init");
        if (init != null)
        {
            await repos.InitAsync(init, change, ct);
            // As DeepDetect (mlmodel.h), config.json is read only with model.init: it fills in what the request does not
            // say. The request's own parameters win, and the result is validated below like any request.
            var stored = ModelRepository.ReadConfigParameters(repo);
            if (stored != null)
            {
                parameters = Overlay(stored, parameters);
                body["parameters"] = parameters.DeepClone();
            }
        }
        UnsupportedOptions.Check(parameters, "parameters");
        var inputObj = JsonRead.Obj(parameters, "input", "parameters.input");
        var mll = JsonRead.Obj(parameters, "mllib", "parameters.mllib");
        var outObj = JsonRead.Obj(parameters, "output", "parameters.output");

        var contents = ModelRepository.Scan(repo);
        ModelInfo info;
        try { info = ModelInfo.Read(contents.ModelPath); }
        catch (InvalidDataException e) { throw DdException.BadMllib($"model '{contents.ModelPath}': {e.Message}"); }

        // Width/height default to the model's own when it fixes them and the request does not say.
        var d = info.Input.Dims;
        var baseInput = new ImageInputParams();
        if (inputObj?["width"] == null && d[3] > 0) baseInput = baseInput with { Width = (int)d[3] };
        if (inputObj?["height"] == null && d[2] > 0) baseInput = baseInput with { Height = (int)d[2] };
        var input = baseInput.With(inputObj, "parameters.input");
        if (d[1] > 0 && d[1] != input.Channels)
            throw DdException.BadMllib($"the model input {info.Input} has {d[1]} channel(s) but the service feeds {input.Channels} (input.bw={input.Bw.ToString().ToLowerInvariant()})");
        if ((d[2] > 0 && d[2] != input.OutHeight) || (d[3] > 0 && d[3] != input.OutWidth))
            throw DdException.BadMllib($"the model input {info.Input} needs {d[2]}x{d[3]} (HxW) but the service feeds {input.OutHeight}x{input.OutWidth}");

        var gpus = GpuSelection.Parse(mll?["gpuid"]);
        int maxBatch = JsonRead.Int(mll, "maxBatchSize", "parameters.mllib.maxBatchSize") ?? 48;
        int workspace = JsonRead.Int(mll, "maxWorkspaceSize", "parameters.mllib.maxWorkspaceSize") ?? 0;
        string dtype = (JsonRead.Str(mll, "datatype", "parameters.mllib.datatype") ?? "fp32").ToLowerInvariant();
        int? nclasses = JsonRead.Int(mll, "nclasses", "parameters.mllib.nclasses");
        string engineFile = JsonRead.Str(mll, "tensorRTEngineFile", "parameters.mllib.tensorRTEngineFile") ?? "TRTengine";
        bool readEngine = JsonRead.Bool(mll, "readEngine", "parameters.mllib.readEngine") ?? true;
        bool writeEngine = JsonRead.Bool(mll, "writeEngine", "parameters.mllib.writeEngine") ?? true;
        bool protection = JsonRead.Bool(mll, "precisionProtection", "parameters.mllib.precisionProtection") ?? true;
        int level = JsonRead.Int(mll, "optimizationLevel", "parameters.mllib.optimizationLevel") ?? BuilderConfig.DefaultOptimizationLevel;
        if (level is < 0 or > 5) throw DdException.BadMllib($"parameters.mllib.optimizationLevel must be in 0..5 (got {level})");
        if (maxBatch < 1 || maxBatch > 4096) throw DdException.BadMllib($"parameters.mllib.maxBatchSize must be in 1..4096 (got {maxBatch})");
        if (workspace < 0) throw DdException.BadMllib($"parameters.mllib.maxWorkspaceSize must be >= 0 MB (got {workspace})");
        if (dtype == "int8") throw DdException.BadMllib("parameters.mllib.datatype int8 is not supported yet (use fp32, fp16 or bf16)");
        if (!PrecisionNames.TryParse(dtype, out _)) throw DdException.BadMllib($"parameters.mllib.datatype '{dtype}' is unknown (use fp32, fp16 or bf16)");
        if (nclasses is int nc)
        {
            if (nc < 1) throw DdException.BadMllib($"parameters.mllib.nclasses must be >= 1 (got {nc})");
            if (info.StaticClasses is int sc && sc != nc)
                throw DdException.BadMllib($"parameters.mllib.nclasses is {nc} but the model output {info.Output} has {sc} classes");
        }
        if ((nclasses ?? info.StaticClasses) is int classes && contents.Labels.Count > 0 && contents.Labels.Keys.Max() is var last && last >= classes)
            throw DdException.BadMllib($"{Path.GetFileName(contents.LabelsPath)} names class {last}, but the model has {classes} classes (0..{classes - 1})");
        if (engineFile.IndexOfAny(['/', '\\']) >= 0 || engineFile.Contains(".."))
            throw DdException.BadMllib("parameters.mllib.tensorRTEngineFile must be a plain file name");
        int best = JsonRead.Int(outObj, "best", "parameters.output.best") ?? 1;
        double thr = JsonRead.Num(outObj, "confidence_threshold", "parameters.output.confidence_threshold") ?? 0.0;

        var spec = new BackendSpec(contents.ModelPath, repo, info, input.Channels, input.OutHeight, input.OutWidth, maxBatch,
            dtype, gpus.All ? 0 : gpus.Ordinals[0], workspace, engineFile, readEngine, writeEngine, opts.CpuThreads, opts.GpuDecode,
            opts.GpuLanes, protection) { OptimizationLevel = level, GpuBatchesInFlight = opts.GpuBatchesInFlight,
            JpegDecodersPerBatch = opts.JpegDecodersPerBatch };
        return new ServiceDefinition(name, description, mllib, repo, (JsonObject)parameters.DeepClone(), input, contents.Labels,
            nclasses, best, thr, spec) { Gpus = gpus };
    }

    /// <summary>
    /// <paramref name="request"/>'s parameters on top of <paramref name="stored"/>'s: per section (input, mllib, output),
    /// a key the request gives replaces the stored one; sections and keys only the stored config has are kept.
    /// </summary>
    internal static JsonObject Overlay(JsonObject stored, JsonObject request)
    {
        var r = (JsonObject)stored.DeepClone();
        foreach (var (key, value) in request)
        {
            if (value is JsonObject section && r[key] is JsonObject storedSection)
            {
                foreach (var (k, v) in section) storedSection[k] = v?.DeepClone();
            }
            else
            {
                r[key] = value?.DeepClone();
            }
        }
        return r;
    }

    /// <summary>
    /// Deletes a service: clear = mem (default), lib (also engine files), full (empty the repository), dir (remove it:
    /// only a repository this server created, see <see cref="ModelRepository.CheckRemovable"/>).
    /// </summary>
    public async Task DeleteAsync(string rawName, string? clear)
    {
        clear ??= "mem";
        if (clear is not ("mem" or "lib" or "full" or "dir"))
            throw DdException.WrongType($"clear '{clear}' is not one of mem, lib, full, dir");
        string name = rawName.ToLowerInvariant();
        // Refused before anything happens: the service stays, the directory too.
        if (clear == "dir" && _services.TryGetValue(name, out var existing)) repos.CheckRemovable(existing.Def.Repository);
        if (!_services.TryRemove(name, out var svc)) throw DdException.ServiceNotFound(name);
        await svc.DisposeAsync();
        string repo = svc.Def.Repository;
        try
        {
            switch (clear)
            {
                case "lib":
                    foreach (var f in Directory.GetFiles(repo, svc.Def.Spec.EngineFileName + "_*")) File.Delete(f);
                    break;
                case "full":
                    foreach (var f in Directory.GetFiles(repo))
                        if (Path.GetFileName(f) != ModelRepository.CreatedMarker) File.Delete(f); // still the server's directory
                    foreach (var sub in Directory.GetDirectories(repo))
                    {
                        if (new DirectoryInfo(sub).LinkTarget != null) Directory.Delete(sub);
                        else Directory.Delete(sub, recursive: true);
                    }
                    break;
                case "dir":
                    Directory.Delete(repo, recursive: true);
                    break;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DdException.Internal($"service '{name}' removed from memory but clear={clear} failed: {e.Message}");
        }
    }

    /// <summary>Frees every service.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var name in _services.Keys.ToList())
            if (_services.TryRemove(name, out var s)) await s.DisposeAsync();
    }
}
