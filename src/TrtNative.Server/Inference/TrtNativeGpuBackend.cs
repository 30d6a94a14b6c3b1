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
/// the GPU. Scores come back through pinned memory; one stream, one synchronisation per batch. Batches are padded up
/// to a few fixed sizes (<see cref="BatchBucket"/>) so the engine sees a handful of shapes, each of which keeps its
/// set-up and CUDA graph in the execution context, instead of a new shape (plain run, then capture) per batch.
/// Two staging lanes (pinned pixels, pinned scores, an event) let the batching loop stage one batch while the GPU runs
/// the previous one (<see cref="Submit"/>); the device buffers are shared, which the single stream keeps in order.
/// </para>
/// </summary>
public sealed class TrtNativeGpuBackend : IPipelinedBackend
{
    private readonly CudaContext _ctx;
    private readonly Engine _engine;
    private readonly EngineContext _exec;
    private readonly string _in, _out;
    private readonly int _c, _h, _w;
    private readonly bool _fixedBatch;
    private readonly CudaStream _stream;
    private readonly Lane[] _lanes = new Lane[2];
    private int _nextLane;
    private readonly DeviceBuffer<float> _input, _output;

    // One batch's host side: its pixels and parameters (pinned, with their device copies), its scores (pinned), the
    // event recorded after its scores' download, and its JPEG decoder (null when GPU decoding is off or unavailable).
    private sealed class Lane(ImageBatchStager stager, PinnedBuffer<float> scores, CudaEvent done) : IDisposable
    {
        public ImageBatchStager Stager { get; } = stager;
        public PinnedBuffer<float> Scores { get; } = scores;
        public CudaEvent Done { get; } = done;
        public GpuJpegDecoder? Jpeg { get; set; }
        public GpuJpegStage? JpegStage { get; set; }
        public bool Busy { get; set; }
        public void Dispose()
        {
            Jpeg?.Dispose();
            Done.Dispose();
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
            var cfg = new BuilderConfig { Precision = precision, PrecisionProtection = spec.PrecisionProtection };
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
                Source ??= "built";
                if (spec.WriteEngine)
                {
                    engine.Save(EngineFile);
                    TimingCacheFile.MergeAndSave(cacheFile, cfg.TimingCache, msg => log?.Invoke(msg));
                }
            }
            foreach (var k in engine.KeptInFp32) log?.Invoke($"kept in fp32: {k}");
            _engine = engine;
            _exec = engine.CreateContext();
            var probe = _exec.Run(new Dictionary<string, Tensor> { [_in] = Tensor.FromFloats(new float[(_fixedBatch ? MaxBatchSize : 1) * _c * _h * _w],
                [_fixedBatch ? MaxBatchSize : 1, _c, _h, _w]) });
            OutputSize = probe.TryGetValue(_out, out var o) ? o.Floats!.Length / (_fixedBatch ? MaxBatchSize : 1)
                : throw new TrtNativeException(ErrorCode.InvalidModel, $"the engine has no output '{_out}' ({string.Join(", ", probe.Keys)})");
            // Own input/output buffers bound to the context: the stager writes the input in place, scores are
            // copied from the output into pinned memory.
            _stream = CudaStream.Create(_ctx);
            _input = DeviceBuffer<float>.Allocate(_ctx, (long)MaxBatchSize * _c * _h * _w);
            _output = DeviceBuffer<float>.Allocate(_ctx, (long)MaxBatchSize * OutputSize);
            for (int i = 0; i < _lanes.Length; i++)
            {
                var stager = new ImageBatchStager(_ctx, MaxBatchSize, _h, _w, _c);
                PinnedBuffer<float>? scores = null;
                try
                {
                    scores = PinnedBuffer<float>.Allocate(_ctx, MaxBatchSize * OutputSize);
                    _lanes[i] = new Lane(stager, scores, CudaEvent.Create(_ctx));
                }
                catch
                {
                    scores?.Dispose();
                    stager.Dispose();
                    throw;
                }
            }
            _exec.SetTensorAddress(_in, _input.DevicePointer);
            _exec.SetTensorAddress(_out, _output.DevicePointer);
            _noGpuDecode = spec.GpuDecode ? CreateJpegDecoders() : "off (--gpu-decode false)";
            log?.Invoke($"JPEG decoding: {GpuDecode}");
            WarmUp(log);
        }
        catch
        {
            DisposeAll();
            throw;
        }
    }

    // One nvJPEG decoder per lane (a lane's decoded images live until its next batch). Without nvJPEG (a build without
    // it, no libnvjpeg, a GPU it refuses) every image takes the CPU path, as before: that is a message, not an error.
    // Returns why JPEGs stay on the CPU, or null when the decoders exist.
    private string? CreateJpegDecoders()
    {
        try
        {
            foreach (var lane in _lanes)
            {
                lane.Jpeg = new GpuJpegDecoder(_ctx, MaxBatchSize);
                lane.JpegStage = new GpuJpegStage(lane.Jpeg, _stream, lane.Stager);
            }
            return null;
        }
        catch (TrtNativeException e) when (e.Code is ErrorCode.Unsupported or ErrorCode.NoDevice or ErrorCode.CudaError or ErrorCode.OutOfMemory)
        {
            foreach (var lane in _lanes)
            {
                lane.Jpeg?.Dispose();
                lane.Jpeg = null;
                lane.JpegStage = null;
            }
            return $"CPU (SkiaSharp): {e.Message}";
        }
    }

    /// <summary>Where JPEGs are decoded: "nvJPEG, hardware decoder", "nvJPEG, CUDA backend …", "off …" or "CPU (SkiaSharp): why".</summary>
    public string GpuDecode => _noGpuDecode ?? (_lanes.All(l => l.Jpeg!.IsHardware) ? "nvJPEG, hardware decoder" : "nvJPEG, CUDA backend (no hardware decoder in use)");

    private string? _noGpuDecode = "off";

    /// <inheritdoc/>
    public bool DecodesJpeg => _lanes[0]?.JpegStage != null;

    /// <summary>JPEG items decoded by nvJPEG so far.</summary>
    public long GpuDecodedImages => Interlocked.Read(ref _gpuDecoded);

    /// <summary>JPEG items nvJPEG refused, decoded on the CPU instead.</summary>
    public long CpuRetriedImages => Interlocked.Read(ref _cpuRetried);

    private long _gpuDecoded, _cpuRetried;

    /// <summary>
    /// Runs every batch size a batch can run at (<see cref="BatchBucket"/>) twice before the service is ready: the
    /// first run sets the layers up for that shape (which may build cuDNN plans) and loads the kernels, the second
    /// captures the CUDA graph. Without it the first request of each new size would pay for that.
    /// </summary>
    private void WarmUp(Action<string>? log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var sizes = _fixedBatch ? [MaxBatchSize] : Enumerable.Range(1, MaxBatchSize).Select(n => BatchBucket(n, MaxBatchSize)).Distinct().ToArray();
        _input.Clear(_stream);  // on the engine's stream: ordered before the runs
        foreach (int b in sizes)
        {
            _exec.SetInputShape(_in, [b, _c, _h, _w]);
            _exec.EnqueueAsync(_stream);
            _exec.EnqueueAsync(_stream);
        }
        _stream.Synchronize();
        log?.Invoke($"warmed up {sizes.Length} batch sizes ({string.Join(",", sizes)}) in {clock.Elapsed.TotalSeconds:F1} s");
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
    public long DeviceMemoryBytes => _engine.WeightBytes + _engine.ActivationBytes + _input.SizeInBytes + _output.SizeInBytes
        + _lanes.Sum(l => (long)l.Stager.MaxBatch * l.Stager.ImageBytes);

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
        var lane = _lanes[_nextLane];
        if (lane.Busy) throw new InvalidOperationException("two batches are already in flight: complete the older one first");
        int run = _fixedBatch ? MaxBatchSize : BatchBucket(n, MaxBatchSize);
        Exception?[]? errors = null;
        bool jpeg = false;
        for (int i = 0; i < n && !jpeg; i++) jpeg = images[i].Jpeg != null;
        for (int i = 0; i < n; i++) lane.Stager.SetNormalization(i, images[i].Normalization);
        // Padding images: whatever pixels are left in the staging slots; their scores are never read.
        for (int i = n; i < run; i++) lane.Stager.SetNormalization(i, images[0].Normalization);
        // One stream: this batch's uploads, decoding and normalisation start only after the previous batch's engine run
        // and download have finished with the shared device buffers.
        _exec.SetInputShape(_in, [run, _c, _h, _w]);
        if (!jpeg)
        {
            for (int i = 0; i < n; i++) images[i].Pixels.CopyTo(lane.Stager.Image(i));
            lane.Stager.EnqueueNormalize(_stream, run, _input);
        }
        else
        {
            // nvJPEG decodes and resizes into the JPEG items' device slots; the other items (and JPEGs nvJPEG refused,
            // decoded on the CPU here) are uploaded slot by slot, runs of neighbours in one copy.
            errors = new Exception?[n];
            Span<bool> upload = stackalloc bool[n];
            int taken = BatchStaging.Stage(images, lane.JpegStage, lane.Stager.Image, upload, errors);
            int jpegs = 0;
            for (int i = 0; i < n; i++) if (images[i].Jpeg != null) jpegs++;
            Interlocked.Add(ref _gpuDecoded, taken);
            Interlocked.Add(ref _cpuRetried, jpegs - taken);
            for (int i = 0; i < n;)
            {
                if (!upload[i]) { i++; continue; }
                int first = i;
                while (i < n && upload[i]) i++;
                lane.Stager.EnqueueUpload(_stream, first, i - first);
            }
            lane.Stager.EnqueueNormalizeOnDevice(_stream, run, _input);
            if (Array.TrueForAll(errors, e => e == null)) errors = null;
        }
        if (images.Any(im => im.Tensor != null))
        {
            // Tensor items (KServe FP32/FP16) go to the engine input as they are, over what the kernel wrote for their
            // slots: wait for the stream (the kernel, and the previous batch still reading the input), then copy.
            // Such batches give up the overlap with the previous batch; image batches keep it.
            _stream.Synchronize();
            int item = _c * _h * _w;
            for (int i = 0; i < n; i++)
                if (images[i].Tensor is { } t) _input.CopyFrom(t, (long)i * item);
        }
        _exec.EnqueueAsync(_stream);
        _output.EnqueueCopyTo(lane.Scores, _stream, (long)n * OutputSize);
        lane.Done.Record(_stream);
        lane.Busy = true;
        _nextLane = (_nextLane + 1) % _lanes.Length;
        return new PendingBatch(lane, n * OutputSize, errors);
    }

    private sealed class PendingBatch(Lane lane, int count, Exception?[]? errors) : IPendingBatch
    {
        public IReadOnlyList<Exception?>? ItemErrors => errors;

        public float[] Complete()
        {
            try
            {
                lane.Done.Synchronize();
                return lane.Scores.Span[..count].ToArray();
            }
            finally
            {
                lane.Busy = false;
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

    /// <summary>Frees the buffers, the context, the engine and the CUDA context, in that order.</summary>
    public void Dispose() => DisposeAll();

    private void DisposeAll()
    {
        // Queued work may still use the buffers (a failed request path): let the stream drain first.
        try { _stream?.Synchronize(); } catch (TrtNativeException) { /* a failed stream: free regardless */ }
        foreach (var lane in _lanes) lane?.Dispose();
        _output?.Dispose();
        _input?.Dispose();
        _stream?.Dispose();
        _exec?.Dispose();
        _engine?.Dispose();
        _ctx.Dispose();
    }
}
