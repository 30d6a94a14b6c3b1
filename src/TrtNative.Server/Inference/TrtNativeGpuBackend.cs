using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Runtime;
using EngineContext = TrtNative.Runtime.EngineContext;

namespace TrtNative.Server.Inference;

/// <summary>
/// GPU backend: a TrtNative engine (Builder → Engine → EngineContext) on one GPU. The engine's optimisation
/// profile covers batch 1..maxBatchSize at the service's C×H×W. The plan is saved in the repository under
/// DeepDetect's name plus the GPU model, {tensorRTEngineFile}_arch{SM}_{dtype}_bs{maxBatchSize}_{gpu} (<see cref="PlanFiles"/>), and reloaded at the next creation
/// (readEngine) unless it is stale (other GPU, libraries or model) or damaged, in which case it is rebuilt. Tactic
/// timings go to {tensorRTEngineFile}_timing.cache so rebuilds skip autotuning.
/// <para>
/// Per batch: the images' 8-bit pixels are copied into pinned staging memory, uploaded asynchronously with their
/// normalisation parameters, and a GPU kernel (<see cref="ImageBatchStager"/>) reorders channels, normalises and
/// writes the engine's float32 NCHW input in place; the engine's first layer turns that into its fp16 NHWC layout on
/// the GPU. Scores come back through pinned memory; one synchronisation per batch. Batches are padded up
/// to a few fixed sizes (<see cref="BatchBucket"/>) so the engine sees a handful of shapes, each of which keeps its
/// set-up and CUDA graph in the execution context, instead of a new shape (plain run, then capture) per batch.
/// Two to four staging sets (<see cref="BackendSpec.GpuBatchesInFlight"/>; pinned pixels, pinned scores, a JPEG decoder,
/// a high-priority stream its batch's input is prepared on, events) let the batching loop stage batches while the GPU
/// runs earlier ones (<see cref="Submit"/>).
/// Each batch's engine run goes to the next GPU lane in turn: its own stream, execution context of the shared engine
/// (weights shared, activations and workspace its own) and bound input/output buffers; events order a lane's input
/// between the preparation that writes it and the engine run that reads it. With two lanes (the default) a batch's
/// upload, decode and normalisation overlap the other batch's engine run, at the cost of a second activation arena;
/// with one lane (<see cref="BackendSpec.GpuLanes"/> 1) every batch's engine run shares one stream and one context.
/// </para>
/// </summary>
public sealed class TrtNativeGpuBackend : IPipelinedBackend
{
    private readonly CudaContext _ctx;
    private readonly Engine _engine;
    private readonly string _in, _out;
    private readonly int _c, _h, _w;
    private readonly bool _fixedBatch;
    private readonly Lane[] _lanes;
    private readonly Staging[] _staging;
    private long _submitted;  // batches submitted so far: the next takes staging set and lane _submitted modulo their counts
    private int _disposed;

    /// <summary>Most GPU lanes a backend uses (engine streams with their own execution context).</summary>
    public const int MaxLanes = 2;

    /// <summary>Most batches a backend keeps in flight (<see cref="BackendSpec.GpuBatchesInFlight"/>): one staging set each.</summary>
    public const int MaxBatchesInFlight = 4;

    /// <summary>Most nvJPEG decoders one batch's JPEGs are split between (<see cref="BackendSpec.JpegDecodersPerBatch"/>).</summary>
    public const int MaxJpegDecodersPerBatch = 4;

    /// <inheritdoc/>
    public int MaxInFlight => _staging.Length;

    // A GPU lane: the stream a batch's engine run and download run on, and an execution context with its own
    // activations, workspace, shape slots and CUDA graphs, bound to the lane's own input and output buffers (a graph
    // replays fixed addresses on a fixed stream, so neither is ever rebound). InputRead is recorded after each engine
    // run: a batch prepared on another stream writes the lane's input only after it.
    private sealed class Lane(CudaStream stream, EngineContext exec, DeviceBuffer<float> input, DeviceBuffer<float> output, CudaEvent inputRead) : IDisposable
    {
        public CudaStream Stream { get; } = stream;
        public EngineContext Exec { get; } = exec;
        public DeviceBuffer<float> Input { get; } = input;
        public DeviceBuffer<float> Output { get; } = output;
        public CudaEvent InputRead { get; } = inputRead;

        // Waits for the lane's queued work so nothing frees memory under it; a failed stream is freed regardless.
        public void Drain()
        {
            try { Stream.Synchronize(); } catch (TrtNativeException) { /* a failed stream: free regardless */ }
        }

        public void Dispose()
        {
            InputRead.Dispose();
            Output.Dispose();
            Input.Dispose();
            Stream.Dispose();
            Exec.Dispose();
        }
    }

    // One batch's host side: its pixels and parameters (pinned, with their device copies), its scores (pinned), the
    // stream its input is prepared on (upload, decode, resize, normalise), the events recorded before its input's
    // preparation, once its pixels are in their slots, after the preparation, before the engine and after its scores'
    // download (ordering and the stage times), its JPEG decoder (null when GPU decoding is off or unavailable), and the
    // lane it runs on.
    private sealed class Staging(ImageBatchStager stager, PinnedBuffer<float> scores, CudaStream prepare, bool ownsPrepare, CudaEvent begin,
        CudaEvent decoded, CudaEvent prepared, CudaEvent engine, CudaEvent done) : IDisposable
    {
        public CudaStream Prepare { get; } = prepare;
        public CudaEvent Decoded { get; } = decoded;
        public CudaEvent Prepared { get; } = prepared;
        public ImageBatchStager Stager { get; } = stager;
        public PinnedBuffer<float> Scores { get; } = scores;
        public CudaEvent Begin { get; } = begin;
        public CudaEvent Engine { get; } = engine;
        public CudaEvent Done { get; } = done;
        public GpuJpegDecoder? Jpeg { get; set; }
        public IGpuJpegStage? JpegStage { get; set; }
        // With several JPEG decoders per batch (BackendSpec.JpegDecodersPerBatch): the others, each decoding on a stream
        // of its own, and what they need (those streams, their events), freed with the set.
        public List<GpuJpegDecoder> SideJpeg { get; } = [];
        public List<CudaStream> SideStreams { get; } = [];
        public List<CudaEvent> SideEvents { get; } = [];
        public bool Busy { get; set; }

        // The JPEG decoders and what they own (streams, events); the set's pixels and streams stay.
        public void DisposeJpeg()
        {
            foreach (var s in SideStreams)
                try { s.Synchronize(); } catch (TrtNativeException) { }
            foreach (var d in SideJpeg) d.Dispose();
            foreach (var e in SideEvents) e.Dispose();
            foreach (var s in SideStreams) s.Dispose();
            SideJpeg.Clear();
            SideEvents.Clear();
            SideStreams.Clear();
            Jpeg?.Dispose();
            Jpeg = null;
            JpegStage = null;
        }

        public void Dispose()
        {
            // Queued preparation may still use the pixels and the decoders: wait for it (a failed stream: free regardless).
            try { Prepare.Synchronize(); } catch (TrtNativeException) { }
            DisposeJpeg();
            Done.Dispose();
            Engine.Dispose();
            Prepared.Dispose();
            Decoded.Dispose();
            Begin.Dispose();
            if (ownsPrepare) Prepare.Dispose();
            Scores.Dispose();
            Stager.Dispose();
        }
    }

    /// <summary>Loads or builds the engine (minutes for big models on a cold timing cache).</summary>
    /// <param name="spec">What to build.</param>
    /// <param name="log">Plan and timing-cache messages (a stale plan, a rebuild).</param>
    /// <param name="progress">The build's phases, when the engine is built.</param>
    public TrtNativeGpuBackend(BackendSpec spec, Action<string>? log = null, IProgress<BuildProgress>? progress = null)
    {
        if (spec.GpuLanes is < 1 or > MaxLanes)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"GPU lanes {spec.GpuLanes} must be 1 or {MaxLanes}");
        if (spec.GpuBatchesInFlight is < 2 or > MaxBatchesInFlight)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"GPU batches in flight {spec.GpuBatchesInFlight} must be 2 to {MaxBatchesInFlight}");
        if (spec.JpegDecodersPerBatch is < 1 or > MaxJpegDecodersPerBatch)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"JPEG decoders per batch {spec.JpegDecodersPerBatch} must be 1 to {MaxJpegDecodersPerBatch}");
        _lanes = new Lane[spec.GpuLanes];
        _staging = new Staging[spec.GpuBatchesInFlight];
        int count = CudaDevice.Count;
        if (spec.GpuId >= count)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"gpuid {spec.GpuId} does not exist: this machine has {count} GPU(s)");
        _in = spec.Model.Input.Name;
        _out = spec.Model.Output.Name;
        (_c, _h, _w) = (spec.Channels, spec.Height, spec.Width);
        long fixedBatch = spec.Model.Input.Dims[0];
        _fixedBatch = fixedBatch > 0;
        MaxBatchSize = fixedBatch > 0 ? (int)fixedBatch : spec.MaxBatchSize;
        _ctx = CudaContext.Create(spec.GpuId);
        try
        {
            var sm = _ctx.Device.ComputeCapability.Sm;
            EngineFile = Path.Combine(spec.Repository, PlanFiles.Plan(spec.EngineFileName, sm, _ctx.Device.Name, spec.DataType, MaxBatchSize));
            string cacheFile = Path.Combine(spec.Repository, $"{spec.EngineFileName}_timing.cache");
            // The model was read and parsed once when the service was created: hash and graph come from that load.
            var model = spec.Model.Onnx;
            string hash = model.ContentHash;
            // The config is known before any plan is read, so a plan built with other settings counts as stale.
            PrecisionNames.TryParse(spec.DataType, out var precision);
            var cfg = new BuilderConfig
            {
                Precision = precision, PrecisionProtection = spec.PrecisionProtection, CalibrationInputs = spec.Calibration,
                OptimizationLevel = spec.OptimizationLevel,
            };
            if (spec.MaxWorkspaceMb > 0) cfg.MaxWorkspaceSize = (long)spec.MaxWorkspaceMb << 20;
            if (fixedBatch <= 0 || spec.Model.Input.Dims.Skip(1).Any(d => d <= 0))
            {
                long b0 = fixedBatch > 0 ? fixedBatch : 1;
                cfg.OptimizationProfiles.Add(new OptimizationProfile().Set(_in,
                    [b0, _c, _h, _w], [MaxBatchSize, _c, _h, _w], [MaxBatchSize, _c, _h, _w]));
            }
            Engine? engine = null;
            if (spec.ReadEngine && File.Exists(EngineFile))
            {
                (engine, string source) = LoadPlanOrRebuild(EngineFile, path => Engine.Load(_ctx, path, hash, cfg), log);
                Source = source;
            }
            if (engine == null)
            {
                cfg.TimingCache = TimingCacheFile.Load(cacheFile, msg => log?.Invoke(msg));
                engine = new Builder(_ctx).Build(model, cfg, progress);
                // Owned before the plan is saved: a failed save frees it in DisposeAll, before the context.
                _engine = engine;
                Source ??= "built";
                if (spec.WriteEngine)
                {
                    engine.Save(EngineFile);
                    TimingCacheFile.MergeAndSave(cacheFile, cfg.TimingCache, msg => log?.Invoke(msg));
                }
            }
            foreach (var k in engine.KeptInFp32) log?.Invoke($"kept in fp32: {k}");
            _engine = engine;
            OutputSize = ProbeOutputSize();
            for (int i = 0; i < _lanes.Length; i++) _lanes[i] = CreateLane();
            for (int i = 0; i < _staging.Length; i++) _staging[i] = CreateStaging(i);
            _noGpuDecode = spec.GpuDecode ? CreateJpegDecoders(spec.JpegDecodersPerBatch) : "off (--gpu-decode false)";
            log?.Invoke($"JPEG decoding: {GpuDecode}");
            var warmClock = System.Diagnostics.Stopwatch.StartNew();
            WarmUpLanes();
            log?.Invoke($"warmed up {_lanes.Length} GPU lane(s) at batch sizes {string.Join(",", BatchSizes())} in {warmClock.Elapsed.TotalSeconds:F1} s; "
                + $"CUDA graphs: {string.Join(", ", _lanes.Select(l => l.Exec.GraphState))}");
        }
        catch
        {
            DisposeAll();
            throw;
        }
    }

    // Scores per item, from one run of a context of its own at the smallest batch (before any lane exists).
    private int ProbeOutputSize()
    {
        int b = _fixedBatch ? MaxBatchSize : 1;
        using var probe = _engine.CreateContext();
        var y = probe.Run(new Dictionary<string, Tensor> { [_in] = Tensor.FromFloats(new float[b * _c * _h * _w], [b, _c, _h, _w]) });
        return y.TryGetValue(_out, out var o) ? o.Floats!.Length / b
            : throw new TrtNativeException(ErrorCode.InvalidModel, $"the engine has no output '{_out}' ({string.Join(", ", y.Keys)})");
    }

    // A lane's stream, context and buffers; the context's input and output are the lane's buffers from the start, so
    // its graphs are captured on them and stay valid. Whatever was created before a failure is freed.
    private Lane CreateLane()
    {
        var owned = new List<IDisposable>();
        try
        {
            var exec = _engine.CreateContext();
            owned.Add(exec);
            var stream = CudaStream.Create(_ctx);
            owned.Add(stream);
            var input = DeviceBuffer<float>.Allocate(_ctx, (long)MaxBatchSize * _c * _h * _w);
            owned.Add(input);
            var output = DeviceBuffer<float>.Allocate(_ctx, (long)MaxBatchSize * OutputSize);
            owned.Add(output);
            exec.SetTensorAddress(_in, input.DevicePointer);
            exec.SetTensorAddress(_out, output.DevicePointer);
            var inputRead = CudaEvent.Create(_ctx);
            owned.Add(inputRead);
            return new Lane(stream, exec, input, output, inputRead);
        }
        catch
        {
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
            throw;
        }
    }

    // A batch's preparation runs on a stream of its own, of high priority: its small kernels (nvJPEG's, the resize and
    // normalisation) then take the SMs as the other lane's engine kernels free them, instead of queueing behind all of
    // them; decoding next to a busy engine ran at half its speed. TRTN_SERVER_PREPARE_PRIORITY=0 keeps the stream at
    // the default priority (the A/B).
    private static readonly bool s_prepareHighPriority = Environment.GetEnvironmentVariable("TRTN_SERVER_PREPARE_PRIORITY") != "0";

    // TRTN_SERVER_PREPARE_STREAM=lane (an A/B, not a setting): each staging set prepares its batches on the stream of
    // the lane its batches run on, as before the preparation streams existed (session 10's measured layout), where
    // every staging set's batches take one lane (their counts divide); otherwise the sets keep their own streams.
    private static readonly bool s_prepareOnLane = Environment.GetEnvironmentVariable("TRTN_SERVER_PREPARE_STREAM") == "lane";

    // Staging set `index`: its batches are the submitted ones with that index modulo the set count, and run on lane
    // `index` modulo the lane count whenever the lane count divides the set count.
    private Staging CreateStaging(int index)
    {
        var owned = new List<IDisposable>();
        try
        {
            var stager = new ImageBatchStager(_ctx, MaxBatchSize, _h, _w, _c);
            owned.Add(stager);
            var scores = PinnedBuffer<float>.Allocate(_ctx, MaxBatchSize * OutputSize);
            owned.Add(scores);
            bool onLane = s_prepareOnLane && _staging.Length % _lanes.Length == 0;
            var prepare = onLane ? _lanes[index % _lanes.Length].Stream : CudaStream.Create(_ctx, s_prepareHighPriority);
            if (!onLane) owned.Add(prepare);
            var events = new CudaEvent[5];
            for (int i = 0; i < events.Length; i++) owned.Add(events[i] = CudaEvent.Create(_ctx));
            return new Staging(stager, scores, prepare, !onLane, events[0], events[1], events[2], events[3], events[4]);
        }
        catch
        {
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
            throw;
        }
    }

    // One nvJPEG decoder per staging set (its decoded images live until its next batch), decoding on the set's
    // preparation stream; with `decodersPerBatch` > 1 the others decode their part of the batch at once, each on a
    // stream of its own that forks from the preparation stream and joins it again (SplitGpuJpegStage).
    // Without nvJPEG (a build without it, no libnvjpeg, a GPU it refuses) every image takes the CPU path, as before:
    // that is a message, not an error. Returns why JPEGs stay on the CPU, or null when the decoders exist.
    private string? CreateJpegDecoders(int decodersPerBatch)
    {
        try
        {
            foreach (var st in _staging)
            {
                st.Jpeg = new GpuJpegDecoder(_ctx, MaxBatchSize);
                var first = new GpuJpegStage(st.Jpeg, st.Prepare, st.Stager);
                if (decodersPerBatch == 1)
                {
                    st.JpegStage = first;
                    continue;
                }
                // Each object joins the set's lists as soon as it exists, so a failure part way frees what was made.
                var parts = new IGpuJpegStage[decodersPerBatch];
                parts[0] = first;
                var forked = CudaEvent.Create(_ctx);
                st.SideEvents.Add(forked);
                var sides = new (CudaStream Stream, CudaEvent Joined)[decodersPerBatch - 1];
                for (int p = 1; p < decodersPerBatch; p++)
                {
                    var stream = CudaStream.Create(_ctx, s_prepareHighPriority);
                    st.SideStreams.Add(stream);
                    var joined = CudaEvent.Create(_ctx);
                    st.SideEvents.Add(joined);
                    var decoder = new GpuJpegDecoder(_ctx, MaxBatchSize);
                    st.SideJpeg.Add(decoder);
                    sides[p - 1] = (stream, joined);
                    parts[p] = new GpuJpegStage(decoder, stream, st.Stager);
                }
                var prepare = st.Prepare;
                st.JpegStage = new SplitGpuJpegStage(parts,
                    fork: () =>
                    {
                        forked.Record(prepare);
                        foreach (var (stream, _) in sides) stream.WaitFor(forked);
                    },
                    join: () =>
                    {
                        foreach (var (stream, joined) in sides)
                        {
                            joined.Record(stream);
                            prepare.WaitFor(joined);
                        }
                    },
                    settle: prepare.Synchronize);
            }
            return null;
        }
        catch (TrtNativeException e) when (e.Code is ErrorCode.Unsupported or ErrorCode.NoDevice or ErrorCode.CudaError or ErrorCode.OutOfMemory)
        {
            foreach (var st in _staging) st.DisposeJpeg();
            return $"CPU (SkiaSharp): {e.Message}";
        }
    }

    /// <summary>Where JPEGs are decoded: "nvJPEG, hardware decoder", "nvJPEG, CUDA backend …", "off …" or "CPU (SkiaSharp): why".</summary>
    public string GpuDecode => _noGpuDecode ?? (_staging.All(st => st.Jpeg!.IsHardware && st.SideJpeg.All(d => d.IsHardware))
        ? "nvJPEG, hardware decoder" : "nvJPEG, CUDA backend (no hardware decoder in use)");

    private string? _noGpuDecode = "off";

    /// <inheritdoc/>
    public bool DecodesJpeg => _staging[0]?.JpegStage != null;

    /// <summary>JPEG items decoded by nvJPEG so far.</summary>
    public long GpuDecodedImages => Interlocked.Read(ref _gpuDecoded);

    /// <summary>JPEG items nvJPEG refused, decoded on the CPU instead.</summary>
    public long CpuRetriedImages => Interlocked.Read(ref _cpuRetried);

    private long _gpuDecoded, _cpuRetried;

    /// <summary>GPU lanes (streams with their own execution context): 1 or 2.</summary>
    public int Lanes => _lanes.Length;

    /// <summary>Each lane's context's graph state at its last shape (after the warm-up: the largest batch), for tests and logs.</summary>
    internal IReadOnlyList<GraphState> LaneGraphStates => _lanes.Select(l => l.Exec.GraphState).ToArray();

    private int[] BatchSizes() => _fixedBatch ? [MaxBatchSize] : Enumerable.Range(1, MaxBatchSize).Select(n => BatchBucket(n, MaxBatchSize)).Distinct().ToArray();

    // TRTN_SERVER_PARALLEL_WARMUP=1 (an A/B switch until measured): the lanes warm up at once, one thread each. Their
    // contexts share only the engine, which setting shapes up reads; each has its own cuDNN and cuBLASLt handles. The
    // warm-up took 85-105 s for ResNet-50 at 14 batch sizes on two lanes (H100), paid again at every service creation.
    private static readonly bool s_parallelWarmUp = Environment.GetEnvironmentVariable("TRTN_SERVER_PARALLEL_WARMUP") == "1";

    private void WarmUpLanes()
    {
        if (s_parallelWarmUp) Concurrently.For(_lanes.Length, i => WarmUp(_lanes[i]));
        else foreach (var lane in _lanes) WarmUp(lane);
    }

    /// <summary>
    /// Runs every batch size a batch can run at (<see cref="BatchBucket"/>) twice on <paramref name="lane"/> before the
    /// service is ready: the first run sets the layers up for that shape (which may build cuDNN plans) and loads the
    /// kernels, the second captures the lane's CUDA graph. Without it the first request of each new size on each lane
    /// would pay for that. Every shape is set up before any run so the workspace has its final size first: a larger
    /// workspace later would drop the graphs already captured.
    /// </summary>
    private void WarmUp(Lane lane)
    {
        var sizes = BatchSizes();
        foreach (int b in sizes)
        {
            lane.Exec.SetInputShape(_in, [b, _c, _h, _w]);
            lane.Exec.GetOutputShape(_out);  // sets the shape up, growing the workspace to what it needs
        }
        lane.Input.Clear(lane.Stream);  // on the lane's stream: ordered before the runs
        foreach (int b in sizes)
        {
            lane.Exec.SetInputShape(_in, [b, _c, _h, _w]);
            lane.Exec.EnqueueAsync(lane.Stream);
            lane.Exec.EnqueueAsync(lane.Stream);
        }
        lane.Stream.Synchronize();
    }

    /// <summary>
    /// Loads the plan at <paramref name="path"/> through <paramref name="load"/>, or returns no engine when the plan is
    /// stale (other GPU, libraries, model, build options or plan format version) or damaged: the caller then rebuilds
    /// it. Other failures propagate.
    /// </summary>
    internal static (Engine? Engine, string Source) LoadPlanOrRebuild(string path, Func<string, Engine> load, Action<string>? log)
    {
        try
        {
            var engine = load(path);
            return (engine, $"loaded plan {Path.GetFileName(path)}");
        }
        catch (TrtNativeException e) when (e.Code is ErrorCode.StalePlan or ErrorCode.CorruptPlan)
        {
            log?.Invoke($"rebuilding: {e.Message}");
            return (null, $"rebuilt ({e.Code})");
        }
    }

    /// <summary>Where the engine came from: "built", "loaded plan …" or "rebuilt (StalePlan)".</summary>
    public string? Source { get; private set; }

    /// <summary>The plan file in the repository.</summary>
    public string EngineFile { get; }

    /// <inheritdoc/>
    public string Kind => "trtnative-gpu";
    /// <inheritdoc/>
    public int MaxBatchSize { get; }
    /// <inheritdoc/>
    public int OutputSize { get; }
    /// <inheritdoc/>
    /// <remarks>
    /// The weights once; per lane the context's activation arena and workspace and the lane's input and output; per
    /// staging set its device pixels. The second lane costs a second arena, workspace, input and output: for ResNet-50
    /// fp16 at max batch 128 the memory plan gives a 748 MiB arena (weights 49 MiB) and a 74 MiB input, so about
    /// 0.8 GiB plus the workspace. One lane (<see cref="BackendSpec.GpuLanes"/>) saves that.
    /// </remarks>
    public long DeviceMemoryBytes => _engine.WeightBytes
        + _lanes.Sum(l => l.Exec.Engine.ActivationBytes + l.Exec.WorkspaceBytes + l.Input.SizeInBytes + l.Output.SizeInBytes)
        + _staging.Sum(st => (long)st.Stager.MaxBatch * st.Stager.ImageBytes);

    /// <inheritdoc/>
    public float[] Run(IReadOnlyList<PreparedImage> images)
    {
        var pending = Submit(images);
        var scores = pending.Complete();
        // Run has no way to fail one item alone: the first unreadable one fails the call.
        if (pending.ItemErrors is { } errors)
            for (int i = 0; i < errors.Count; i++)
                if (errors[i] is { } e) throw new UnreadableImageException(i, e.Message, e);
        return scores;
    }

    /// <inheritdoc/>
    public IPendingBatch Submit(IReadOnlyList<PreparedImage> images)
    {
        int n = images.Count;
        if (n < 1 || n > MaxBatchSize) throw new ArgumentException($"batch of {n} images is outside 1..{MaxBatchSize}");
        var st = _staging[_submitted % _staging.Length];
        if (st.Busy) throw new InvalidOperationException($"{_staging.Length} batches are already in flight: complete the oldest first");
        long submitStart = System.Diagnostics.Stopwatch.GetTimestamp();
        var lane = _lanes[_submitted % _lanes.Length];
        var prepare = st.Prepare;
        int run = _fixedBatch ? MaxBatchSize : BatchBucket(n, MaxBatchSize);
        Exception?[]? errors = null;
        bool jpeg = false;
        for (int i = 0; i < n && !jpeg; i++) jpeg = images[i].Jpeg != null;
        for (int i = 0; i < n; i++) st.Stager.SetNormalization(i, images[i].Normalization);
        // Padding images: whatever pixels are left in the staging slots; their scores are never read.
        for (int i = n; i < run; i++) st.Stager.SetNormalization(i, images[0].Normalization);
        // The input is prepared on the staging set's stream: uploads, decoding and resizing at once (this staging set's
        // pixels, decoder and scores are free: its previous batch completed), the normalisation kernel that writes the
        // lane's input only after the lane's last engine run has read it (an earlier batch on this lane may still be
        // running). The engine run and the download follow on the lane's stream, after the preparation.
        lane.Exec.SetInputShape(_in, [run, _c, _h, _w]);
        st.Begin.Record(prepare);
        if (!jpeg)
        {
            for (int i = 0; i < n; i++) images[i].Pixels.CopyTo(st.Stager.Image(i));
            st.Stager.EnqueueUpload(prepare, 0, run);
        }
        else
        {
            // nvJPEG decodes and resizes into the JPEG items' device slots; the other items (and JPEGs nvJPEG refused,
            // decoded on the CPU here) are uploaded slot by slot, runs of neighbours in one copy.
            errors = new Exception?[n];
            Span<bool> upload = stackalloc bool[n];
            int taken = BatchStaging.Stage(images, st.JpegStage, st.Stager.Image, upload, errors);
            int jpegs = 0;
            for (int i = 0; i < n; i++) if (images[i].Jpeg != null) jpegs++;
            Interlocked.Add(ref _gpuDecoded, taken);
            Interlocked.Add(ref _cpuRetried, jpegs - taken);
            for (int i = 0; i < n;)
            {
                if (!upload[i]) { i++; continue; }
                int first = i;
                while (i < n && upload[i]) i++;
                st.Stager.EnqueueUpload(prepare, first, i - first);
            }
            if (Array.TrueForAll(errors, e => e == null)) errors = null;
        }
        st.Decoded.Record(prepare);
        prepare.WaitFor(lane.InputRead);
        st.Stager.EnqueueNormalizeOnDevice(prepare, run, lane.Input);
        if (images.Any(im => im.Tensor != null))
        {
            // Tensor items (KServe FP32/FP16) go to the engine input as they are, over what the kernel wrote for their
            // slots: wait for the preparation (the kernel, queued after the lane's last read of its input), then copy.
            // The other batch keeps running meanwhile.
            prepare.Synchronize();
            int item = _c * _h * _w;
            for (int i = 0; i < n; i++)
                if (images[i].Tensor is { } t) lane.Input.CopyFrom(t, (long)i * item);
        }
        st.Prepared.Record(prepare);
        var stream = lane.Stream;
        stream.WaitFor(st.Prepared);
        st.Engine.Record(stream);
        lane.Exec.EnqueueAsync(stream);
        lane.InputRead.Record(stream);
        lane.Output.EnqueueCopyTo(st.Scores, stream, (long)n * OutputSize);
        st.Done.Record(stream);
        st.Busy = true;
        _submitted++;
        return new PendingBatch(st, n * OutputSize, errors, System.Diagnostics.Stopwatch.GetElapsedTime(submitStart).TotalSeconds);
    }

    private sealed class PendingBatch(Staging st, int count, Exception?[]? errors, double submitSeconds) : IPendingBatch
    {
        public IReadOnlyList<Exception?>? ItemErrors => errors;

        public BatchStages? Stages { get; private set; }

        public bool? IsDone => st.Done.IsComplete;

        public float[] Complete()
        {
            try
            {
                st.Done.Synchronize();
                Stages = new BatchStages(submitSeconds, CudaEvent.ElapsedMilliseconds(st.Begin, st.Decoded) / 1e3,
                    CudaEvent.ElapsedMilliseconds(st.Begin, st.Engine) / 1e3, CudaEvent.ElapsedMilliseconds(st.Engine, st.Done) / 1e3);
                return st.Scores.Span[..count].ToArray();
            }
            finally
            {
                st.Busy = false;
            }
        }
    }

    /// <summary>
    /// The batch size a batch of <paramref name="n"/> images runs at: the smallest of 1, 2, 3, 4, 6, 8, 12, 16, 24, …
    /// (powers of two and three times powers of two) that holds it, at most <paramref name="max"/>. At most a third of
    /// a run is padding, and a max batch of 128 gives 14 shapes — within what an execution context keeps set up.
    /// </summary>
    public static int BatchBucket(int n, int max)
    {
        if (n < 1 || n > max) throw new ArgumentOutOfRangeException(nameof(n), $"batch {n} is outside 1..{max}");
        for (int p = 1; ; p *= 2)
        {
            if (p >= n) return Math.Min(p, max);
            if (p >= 2 && p + p / 2 >= n) return Math.Min(p + p / 2, max);
        }
    }

    /// <summary>
    /// Waits for every lane's queued work (a failed stream is freed regardless), then frees the staging sets, the
    /// lanes (buffers, stream, context), the engine and the CUDA context, in that order.
    /// </summary>
    public void Dispose() => DisposeAll();

    private void DisposeAll()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Queued work may still use the buffers (a failed request path): every lane drains before anything is freed
        // (a staging set's scores are written on its lane's stream), and each staging set waits for its own
        // preparation stream before freeing its pixels and decoder.
        foreach (var lane in _lanes) lane?.Drain();
        foreach (var st in _staging) st?.Dispose();
        foreach (var lane in _lanes) lane?.Dispose();
        _engine?.Dispose();
        _ctx.Dispose();
    }
}
