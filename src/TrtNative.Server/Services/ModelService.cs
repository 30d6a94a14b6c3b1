using System.Diagnostics;
using TrtNative;
using System.Text.Json.Nodes;
using TrtNative.Server.Api;
using TrtNative.Server.Imaging;
using TrtNative.Server.Inference;
using TrtNative.Runtime;
using TrtNative.Server.Metrics;

namespace TrtNative.Server.Services;

/// <summary>Engine state a service reports.</summary>
public enum ServiceState { Building, Ready, Failed }

/// <summary>
/// One service: its repository, labels, image parameters and its replicas — one backend per listed GPU, or the one CPU
/// backend (<see cref="ReplicaSet"/>) — behind one batching queue, built in the background at creation. Predicts wait
/// for the build (bounded) and then go through the queue.
/// </summary>
public sealed class ModelService : IAsyncDisposable
{
    private readonly ServerMetrics _metrics;
    private readonly ServerOptions _opts;
    private readonly ILogger? _log;
    private readonly Task<DynamicBatcher> _ready;
    private ReplicaSet? _replicas;
    private DynamicBatcher? _batcher;
    private volatile bool _deleted; // set when DELETE starts: predicts still running answer 404/1002
    private long _batches, _batchItems;

    /// <summary>Starts the engine build in the background.</summary>
    public ModelService(ServiceDefinition def, BackendFactory factory, BackendKind kind, string backendReason,
        ServerMetrics metrics, ServerOptions opts, ILogger? log = null)
    {
        Def = def;
        _metrics = metrics;
        _opts = opts;
        _log = log;
        BackendKind = kind;
        BackendReason = backendReason;
        var sw = Stopwatch.StartNew();
        // A thread of its own, not the thread pool's: a build holds its thread for seconds to minutes, and several at
        // once (a server starting with many services, or the tests' fifty) would hold the threads requests run on.
        _ready = Task.Factory.StartNew(() =>
        {
            try
            {
                List<Replica> replicas;
                try
                {
                    var spec = kind == BackendKind.Gpu ? WithCalibration(def, opts) : def.Spec;
                    replicas = ReplicaBuilder.Build(factory, kind, spec, def.GpuIds, msg => log?.LogWarning("service {Name}: {Message}", def.Name, msg));
                }
                catch (TrtNativeException e) when (kind == BackendKind.Gpu && e.Code == ErrorCode.NativeLibrary)
                {
                    // A GPU without our native shim: serve on the CPU and say why (GET /services/{name}, backend_reason).
                    BackendKind = BackendKind.Cpu;
                    BackendReason = $"GPU present but the TrtNative native library is unusable ({e.Message}); using ONNX Runtime CPU";
                    replicas = ReplicaBuilder.Build(factory, BackendKind.Cpu, def.Spec, []);
                }
                finally
                {
                    // The backend holds what it needs now: the service keeps the model's hash and signature, not its weights.
                    def.Spec.Model.Onnx.ReleaseWeights();
                }
                var backendKind = BackendKind;
                _replicas = new ReplicaSet(replicas, r => Rebuild(factory, backendKind, def, r))
                {
                    OnBatch = (r, size, stages) => metrics.ReplicaBatch(def.Name, r.Label, size, stages),
                    OnFailed = (r, e) =>
                    {
                        metrics.ReplicaFailed(def.Name, r.Label);
                        log?.LogError("service {Name}: replica {Index} on GPU {Gpu} ({Device}) taken out of rotation: {Error}",
                            def.Name, r.Index, r.Label, r.Device, e.Message);
                    },
                };
                if (def.NClasses is int n && n != _replicas.OutputSize)
                    throw new InvalidOperationException($"nclasses is {n} but the model outputs {_replicas.OutputSize} scores per image");
                if (BackendKind == BackendKind.Gpu) Accuracy = CheckAccuracy(factory, def);
                BuildSeconds = sw.Elapsed.TotalSeconds;
                metrics.EngineBuilt(def.Name, _replicas.Kind, BuildSeconds);
                if (GpuMemoryBytes() > 0) metrics.TrackGpuMemory(def.Name, () => GpuMemoryBytes() ?? 0);
                metrics.TrackReplicas(def.Name, _replicas.Replicas);
                _batcher = new DynamicBatcher(_replicas, def.Spec.Channels * def.Spec.Height * def.Spec.Width,
                    TimeSpan.FromMilliseconds(opts.MaxBatchDelayMs), opts.MaxQueue, OnBatch, n => metrics.NonFiniteOutputs(def.Name, n));
                State = ServiceState.Ready;
                return _batcher;
            }
            catch (Exception e)
            {
                Error = e.Message;
                // Dropped before it is disposed: a description of the failed service must not read a freed engine.
                var built = _replicas;
                _replicas = null;
                State = ServiceState.Failed;
                built?.DisposeAsync().AsTask().GetAwaiter().GetResult();
                throw;
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        _ready.ContinueWith(t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted); // observed: reported via State/Error
    }

    /// <summary>
    /// The spec with the repository's calibration images (<see cref="CalibrationFolder"/>) when it has some and precision
    /// protection applies; a calibration image that cannot be read fails the service, naming the file.
    /// </summary>
    internal static BackendSpec WithCalibration(ServiceDefinition def, ServerOptions opts)
    {
        if (!def.Spec.PrecisionProtection || def.Spec.DataType == "fp32") return def.Spec;
        long fixedBatch = def.Spec.Model.Input.Dims[0];
        var runs = CalibrationFolder.Load(def.Repository, def.Input, def.Spec.Model.Input.Name, def.Spec.MaxBatchSize, opts.MaxImagePixels,
            fixedBatch > 0 ? (int)fixedBatch : 0);
        return runs == null ? def.Spec : def.Spec with { Calibration = runs };
    }

    /// <summary>The validated creation parameters.</summary>
    public ServiceDefinition Def { get; }
    /// <summary>Which backend was chosen.</summary>
    public BackendKind BackendKind { get; private set; }
    /// <summary>Why (e.g. the CPU fallback reason).</summary>
    public string BackendReason { get; private set; }
    /// <summary>Engine state.</summary>
    public ServiceState State { get; private set; } = ServiceState.Building;
    /// <summary>The build failure, when <see cref="State"/> is Failed.</summary>
    public string? Error { get; private set; }

    /// <summary>Built and at least one replica in rotation: predicts can be served (readiness).</summary>
    public bool IsReady => State == ServiceState.Ready && _replicas?.AnyHealthy == true;

    /// <summary>
    /// The state reported by GET /services/{name} and /info: building, ready, or failed — a failed build, or every
    /// replica out of rotation after device errors (until one is restored).
    /// </summary>
    public string StateName => State == ServiceState.Ready && !IsReady ? "failed" : State.ToString().ToLowerInvariant();

    /// <summary>The replicas (none while building or after a failed build).</summary>
    public IReadOnlyList<Replica> Replicas => _replicas?.Replicas ?? [];

    // A fresh backend for a failed replica (restore). The model is read again: the service dropped its weights after
    // the build, and a plan that must be rebuilt needs them. A model file changed since creation is refused: the
    // replica would run another model than its siblings.
    private static IInferenceBackend Rebuild(BackendFactory factory, BackendKind kind, ServiceDefinition def, Replica r)
    {
        var model = ModelInfo.Read(def.Spec.ModelPath);
        try
        {
            if (model.Onnx.ContentHash != def.Spec.Model.Onnx.ContentHash)
                throw new InvalidOperationException($"the model file {def.Spec.ModelPath} changed since the service was created; recreate the service");
            return factory.Create(kind, def.Spec with { GpuId = r.Gpu ?? def.Spec.GpuId, Model = model });
        }
        finally
        {
            model.Onnx.ReleaseWeights();
        }
    }

    // Device memory of the GPU replicas' backends (null when none is a GPU backend).
    private long? GpuMemoryBytes()
    {
        long sum = 0;
        bool any = false;
        foreach (var r in Replicas)
        {
            long? b = ReplicaMemory(r);
            if (b is long v && v > 0) { sum += v; any = true; }
        }
        return any ? sum : null;
    }

    // A replica being restored may have its backend swapped or freed meanwhile: then it holds nothing to report.
    private static long? ReplicaMemory(Replica r)
    {
        try
        {
            return r.Backend?.DeviceMemoryBytes;
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>
    /// Brings failed replicas back without restarting the server: each failed replica among <paramref name="which"/>
    /// (null: all) gets a fresh backend (the plan is loaded from the repository, or rebuilt). 409/1008 while the
    /// service builds, 500/1007 when its build failed or a replica could not be restored (naming it and why),
    /// 400/1006 for a GPU the service does not use.
    /// </summary>
    public async Task<IReadOnlyList<Replica>> RestoreAsync(GpuSelection? which, CancellationToken ct)
    {
        await ReadyAsync(ct);
        var set = _replicas!;
        HashSet<int>? gpus = null;
        if (which is { All: false })
        {
            gpus = [];
            foreach (int g in which.Ordinals)
            {
                if (!set.Replicas.Any(r => r.Gpu == g))
                    throw DdException.BadMllib($"{GpuSelection.Field} {g}: service '{Def.Name}' has no replica on GPU {g} (its GPUs: {string.Join(", ", set.Replicas.Select(r => r.Label))})");
                gpus.Add(g);
            }
        }
        IReadOnlyList<Replica> done;
        try
        {
            done = await set.RestoreAsync(gpus);
            foreach (var r in done)
                _log?.LogInformation("service {Name}: restore of replica {Index} on GPU {Gpu}: {State} {Error}", Def.Name, r.Index, r.Label,
                    r.State.ToString().ToLowerInvariant(), r.Error);
        }
        catch (InvalidOperationException e)
        {
            throw DdException.Internal(e.Message, e);
        }
        var still = done.Where(r => r.State != ReplicaState.Healthy).ToList();
        if (still.Count > 0)
            throw DdException.Internal($"service '{Def.Name}': " + string.Join("; ", still.Select(r => $"replica {r.Index} (GPU {r.Label}) was not restored: {r.Error}")));
        return done;
    }
    /// <summary>Seconds the engine build took.</summary>
    public double BuildSeconds { get; private set; }
    /// <summary>GPU services: the engine against ONNX Runtime (CPU) on a few random inputs, checked when it was built.</summary>
    public AccuracyReport? Accuracy { get; private set; }

    // The engine against ONNX Runtime on the CPU (AccuracyCheck). A check that cannot run is reported, not fatal: the
    // engine itself built.
    private AccuracyReport CheckAccuracy(BackendFactory factory, ServiceDefinition def)
    {
        // The first built replica: every replica of a GPU model runs one plan.
        var engine = _replicas!.Replicas.First(r => r.Backend != null).Backend!;
        PrecisionNames.TryParse(def.Spec.DataType, out var precision);
        try
        {
            using var reference = factory.Create(BackendKind.Cpu, def.Spec);
            var c = AccuracyCheck.Run(engine, reference, def.Spec.Channels, def.Spec.Height, def.Spec.Width, seed: 1);
            // JSON has no infinity: a non-finite engine output has no relative error, its count says why.
            return new AccuracyReport(reference.Kind, AccuracyCheck.Items, double.IsFinite(c.RelativeL2) ? c.RelativeL2 : null, c.MaxAbsError,
                c.NonFinite, c.Top1Summary, c.WithinBudget(precision), null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new AccuracyReport("onnxruntime-cpu", 0, null, null, null, null, null, $"the check could not run: {e.Message}");
        }
    }

    private void OnBatch(int size, double[] waits, double runSeconds)
    {
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _batchItems, size);
        _metrics.Batch(Def.Name, size, waits, runSeconds);
    }

    /// <summary>Whether the build ended (built or failed) within <paramref name="wait"/>.</summary>
    public async Task<bool> BuildEndsWithinAsync(TimeSpan wait, CancellationToken ct)
    {
        try
        {
            await _ready.WaitAsync(wait, ct);
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception) when (_ready.IsFaulted)
        {
        }
        return true;
    }

    /// <summary>Waits (bounded) for the engine; 409/1008 while still building, 500/1007 when the build failed.</summary>
    public async Task<DynamicBatcher> ReadyAsync(CancellationToken ct)
    {
        if (!_ready.IsCompleted && !await BuildEndsWithinAsync(TimeSpan.FromSeconds(_opts.BuildWaitSeconds), ct))
            throw DdException.Conflict($"the engine of service '{Def.Name}' is still being built; retry later (see GET /services/{Def.Name})");
        if (_ready.IsFaulted) throw DdException.Internal($"the engine of service '{Def.Name}' failed to build: {Error}");
        return await _ready;
    }

    /// <summary>
    /// A pixel buffer of this service's input size (H × W × C bytes) from the service's pool, for a predict to fill.
    /// Give it back with <see cref="ReturnPixels"/> only once nothing can read it any more.
    /// </summary>
    public byte[] RentPixels()
    {
        if (_pixels.TryDequeue(out var t))
        {
            Interlocked.Decrement(ref _pooledPixels);
            return t;
        }
        return new byte[Def.Spec.Channels * Def.Spec.Height * Def.Spec.Width];
    }

    /// <summary>Puts pixel buffers back in the pool (kept up to a bound; the rest are left to the GC).</summary>
    public void ReturnPixels(IEnumerable<byte[]> buffers)
    {
        int size = Def.Spec.Channels * Def.Spec.Height * Def.Spec.Width;
        foreach (var t in buffers)
            if (t.Length == size && Interlocked.Increment(ref _pooledPixels) <= MaxPooledPixels) _pixels.Enqueue(t);
            else if (t.Length == size) Interlocked.Decrement(ref _pooledPixels);
    }

    // Two full batches' worth (one forming, one running), and never more than MaxPooledPixelBytes: a large predict
    // returns all of its buffers here, and the pool must not keep them (1000 images of 224×224 RGB are 150 MB).
    private int MaxPooledPixels => (int)Math.Min(2L * Def.Spec.MaxBatchSize,
        MaxPooledPixelBytes / Math.Max(1, Def.Spec.Channels * Def.Spec.Height * Def.Spec.Width));

    /// <summary>Most bytes of pixel buffers a service keeps for reuse.</summary>
    public const long MaxPooledPixelBytes = 16L << 20;

    /// <summary>Bytes of pixel buffers this service holds for reuse now (at most <see cref="MaxPooledPixelBytes"/>).</summary>
    public long PooledPixelBytes => (long)_pixels.Count * Def.Spec.Channels * Def.Spec.Height * Def.Spec.Width;
    private readonly System.Collections.Concurrent.ConcurrentQueue<byte[]> _pixels = new();
    private int _pooledPixels;

    /// <summary>True when the service's backend decodes JPEGs itself (on the GPU), so a predict may hand them over encoded.</summary>
    public bool DecodesJpeg => _replicas?.DecodesJpeg == true && State == ServiceState.Ready;

    /// <summary>
    /// <see cref="DecodesJpeg"/> once the build is over: waits for it as a predict does (<see cref="ReadyAsync"/>:
    /// 409/1008 after BuildWaitSeconds). Asked before the build ends, the answer would be "no" and the file would take
    /// the CPU decoder while the same file sent later takes the GPU's, with other pixels (GpuJpegTests' bound) and so
    /// other scores: the same file must give the same answer whenever it is sent.
    /// </summary>
    public async Task<bool> DecodesJpegAsync(CancellationToken ct)
    {
        if (_deleted) throw DdException.ServiceNotFound(Def.Name);
        await ReadyAsync(ct);
        return DecodesJpeg;
    }

    /// <summary>
    /// Announces images a predict will submit once decoded, so a batch being formed waits for them (see
    /// <see cref="DynamicBatcher.Expect"/>). A no-op while the engine is still building.
    /// </summary>
    public IDisposable Expect(int images) => _batcher?.Expect(images) ?? NoExpectation.Instance;

    private sealed class NoExpectation : IDisposable
    {
        public static readonly NoExpectation Instance = new();
        public void Dispose() { }
    }

    /// <summary>
    /// Runs one predict call (already parsed); returns the body's predictions in data order.
    /// <paramref name="expectation"/> (from <see cref="Expect"/>) is released as the items are queued.
    /// </summary>
    public async Task<List<Prediction>> PredictAsync(List<(string uri, PreparedImage image)> items, int best, double threshold, CancellationToken ct,
        IDisposable? expectation = null)
    {
        var scores = await RunAsync(items.Select(i => i.image).ToList(), i => $"image '{items[i].uri}'", ct, expectation);
        // Every item's task completed, so the backend has read them all: the pixel buffers are free again.
        ReturnPixels(items.Select(i => i.image.Pixels));
        var preds = new List<Prediction>(items.Count);
        for (int i = 0; i < items.Count; i++) preds.Add(Classes(items[i].uri, scores[i], best, threshold));
        return preds;
    }

    /// <summary>
    /// Runs prepared items through this service's batcher and returns their scores, for every API (DeepDetect's
    /// predict, KServe's infer): a full queue is a conflict (DdException.Conflict), a non-finite output fails the request naming
    /// the item (<paramref name="describe"/> names item i), and a service deleted meanwhile is 404/1002.
    /// </summary>
    public async Task<float[][]> RunAsync(List<PreparedImage> items, Func<int, string> describe, CancellationToken ct, IDisposable? expectation = null)
    {
        if (_deleted) throw DdException.ServiceNotFound(Def.Name);
        try
        {
            var batcher = await ReadyAsync(ct);
            try
            {
                if (_replicas?.AnyHealthy == false) throw _replicas.NoHealthy();
                return await batcher.SubmitAsync(items, expectation);
            }
            catch (QueueFullException e)
            {
                throw DdException.Conflict(e.Message);
            }
            catch (NoHealthyReplicaException e)
            {
                // 500/1007: the service exists and was built, but no device can run it now.
                throw DdException.Internal($"service '{Def.Name}' cannot run: {e.Message}; bring replicas back with " +
                    $"POST /services/{Def.Name}/replicas/restore", e);
            }
            catch (UnreadableImageException e)
            {
                throw DdException.InputError($"Could not read {describe(e.ItemIndex)}: {e.Message}");
            }
            catch (NonFiniteOutputException e)
            {
                throw DdException.Internal($"non-finite model output: the scores of {describe(e.ItemIndex)} hold a NaN or an infinity " +
                    $"({e.Message}); no prediction is returned for this request", e);
            }
            finally
            {
                expectation?.Dispose();
            }
        }
        catch (Exception e) when (_deleted && e is not DdException { HttpCode: 404 })
        {
            // The service was deleted while this call ran (its queue closed, its waiting items failed): for the client
            // that is the service not being there, not a server error.
            throw DdException.ServiceNotFound(Def.Name);
        }
    }

    /// <summary>DeepDetect's predict statistics of this service (the predict path records them).</summary>
    public ServiceStats PredictStats { get; } = new();

    private Prediction Classes(string uri, float[] s, int best, double threshold)
    {
        var order = Ranked(s, best, threshold);
        var classes = new List<PredictedClass>(order.Count);
        for (int k = 0; k < order.Count; k++)
        {
            int i = order[k];
            classes.Add(new PredictedClass(s[i], Def.Labels.TryGetValue(i, out var l) ? l : i.ToString(), k == order.Count - 1 ? true : null));
        }
        return new Prediction(uri, classes);
    }

    /// <summary>
    /// Class indices with score ≥ <paramref name="threshold"/>, highest score first (ties: lower index first), at most
    /// <paramref name="best"/> of them (-1: all). For small best a partial selection (one pass, insertion into a
    /// best-sized list) instead of sorting every class.
    /// </summary>
    internal static List<int> Ranked(float[] s, int best, double threshold)
    {
        if (best <= 0 || best >= 64)
        {
            var all = Enumerable.Range(0, s.Length).OrderByDescending(i => s[i]).ThenBy(i => i)
                .Where(i => s[i] >= threshold).ToList();
            if (best > 0 && all.Count > best) all = all.Take(best).ToList();
            return all;
        }
        var top = new int[best];
        int n = 0;
        for (int i = 0; i < s.Length; i++)
        {
            float v = s[i];
            if (!(v >= threshold)) continue;
            // Indices arrive in increasing order, so a tie never moves ahead of an earlier index.
            if (n == best && !(v > s[top[n - 1]])) continue;
            int j = n < best ? n++ : n - 1;
            while (j > 0 && v > s[top[j - 1]])
            {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = i;
        }
        return new List<int>(top.AsSpan(0, n).ToArray());
    }

    /// <summary>DeepDetect's service_stats, plus how the batching queue grouped the images (engine_batches).</summary>
    public ServiceStatsBody Stats()
    {
        long batches = Interlocked.Read(ref _batches);
        return PredictStats.Snapshot() with
        {
            EngineBatches = batches,
            AvgEngineBatchSize = batches == 0 ? 0.0 : (double)Interlocked.Read(ref _batchItems) / batches,
            PerGpu = BackendKind == BackendKind.Gpu && Replicas.Count > 0
                ? Replicas.Select(r => new GpuStatsBody(r.Label, r.Batches, r.Images)).ToList()
                : null,
        };
    }

    /// <summary>
    /// The service object of GET /services/{name}. With <paramref name="status"/> (DeepDetect's default) it carries
    /// <c>jobs</c>: the service's training jobs, always none here.
    /// </summary>
    public ServiceInfo Describe(bool labels, bool status = true)
    {
        // DeepDetect's model_stats (params = weights in the ONNX initializers); it still sends the same object as "stats".
        var modelStats = new ModelStatsBody(Def.Spec.Model.Parameters > 0 ? Def.Spec.Model.Parameters : null);
        var g = Replicas.FirstOrDefault()?.Backend as TrtNativeGpuBackend;
        List<string>? labelList = null;
        if (labels)
        {
            int n = Def.Labels.Count == 0 ? 0 : Def.Labels.Keys.Max() + 1;
            labelList = new List<string>(n);
            for (int i = 0; i < n; i++) labelList.Add(Def.Labels.TryGetValue(i, out var l) ? l : i.ToString());
        }
        return new ServiceInfo(
            Name: Def.Name,
            Description: Def.Description,
            Mllib: Def.Mllib,
            Mltype: "classification",
            Type: "supervised",
            Predict: true,
            Training: false,
            Repository: Def.Repository,
            Model: Path.GetFileName(Def.Spec.ModelPath),
            Parameters: (JsonObject)Def.Parameters.DeepClone(),
            Width: Def.Input.Width,
            Height: Def.Input.Height,
            State: StateName,
            Backend: _replicas?.Kind ?? (BackendKind == BackendKind.Cpu ? "onnxruntime-cpu" : "trtnative-gpu"),
            BackendReason: BackendReason,
            MaxBatchSize: Def.Spec.MaxBatchSize,
            Datatype: Def.Spec.DataType,
            InputTensor: Def.Spec.Model.Input.ToString(),
            OutputTensor: Def.Spec.Model.Output.ToString(),
            ServiceStats: Stats(),
            ModelStats: modelStats,
            Stats: modelStats)
        {
            Jobs = status ? [] : null,
            EngineBuildSeconds = State == ServiceState.Ready ? BuildSeconds : null,
            EngineSource = g?.Source,
            JpegDecode = g == null ? null : g.DecodesJpeg
                ? $"{g.GpuDecode}; {g.GpuDecodedImages} decoded on the GPU, {g.CpuRetriedImages} refused and decoded on the CPU"
                : g.GpuDecode,
            EngineFile = g == null ? null : Path.GetFileName(g.EngineFile),
            GpuMemoryBytes = GpuMemoryBytes(),
            Error = Error ?? (State == ServiceState.Ready && !IsReady ? _replicas!.NoHealthy().Message : null),
            Replicas = Replicas.Count == 0 ? null : Replicas.Select(Describe).ToList(),
            Labels = labelList,
            AccuracyCheck = Accuracy,
        };
    }

    /// <summary>One replica as GET /services/{name} and the KServe model metadata show it.</summary>
    public static ReplicaInfo Describe(Replica r)
    {
        var g = r.Backend as TrtNativeGpuBackend;
        return new ReplicaInfo(r.Index, r.Gpu, r.Device, r.State.ToString().ToLowerInvariant(), r.Batches, r.Images, r.InFlight, r.Failures)
        {
            Error = r.Error,
            EngineSource = g?.Source,
            EngineFile = g == null ? null : Path.GetFileName(g.EngineFile),
            GpuMemoryBytes = ReplicaMemory(r) is long b && b > 0 ? b : null,
        };
    }

    /// <summary>Stops the queue and frees the backends (waits for a build in progress).</summary>
    public async ValueTask DisposeAsync()
    {
        _deleted = true;
        try { await _ready; } catch { /* failed build: nothing to free */ }
        if (_batcher != null) await _batcher.DisposeAsync();
        if (_replicas != null) await _replicas.DisposeAsync();
        _metrics.ServiceRemoved(Def.Name);
    }
}

/// <summary>A validated service creation request.</summary>
/// <param name="Name">Lower-cased service name.</param>
/// <param name="Description">Free text.</param>
/// <param name="Mllib">mllib as given.</param>
/// <param name="Repository">Full repository path.</param>
/// <param name="Parameters">The parameters object as created (after config.json replacement).</param>
/// <param name="Input">Image parameters.</param>
/// <param name="Labels">Class index → label.</param>
/// <param name="NClasses">nclasses when given.</param>
/// <param name="Best">Default output.best.</param>
/// <param name="Threshold">Default output.confidence_threshold.</param>
/// <param name="Spec">What the backend is asked to build.</param>
public sealed record ServiceDefinition(string Name, string Description, string Mllib, string Repository, JsonObject Parameters,
    ImageInputParams Input, IReadOnlyDictionary<int, string> Labels, int? NClasses, int Best, double Threshold, BackendSpec Spec)
{
    /// <summary>The GPUs parameters.mllib.gpuid asks for.</summary>
    public GpuSelection Gpus { get; init; } = GpuSelection.Default;

    /// <summary>
    /// The GPU ordinals the service runs on, one replica each, resolved against the machine at creation (empty for a
    /// CPU service). <see cref="Spec"/>'s GpuId is the first; each replica's backend gets its own.
    /// </summary>
    public IReadOnlyList<int> GpuIds { get; init; } = [];
}
