using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Runtime;
using ExecutionContext = TrtNative.Runtime.ExecutionContext;

namespace TrtNative.Server.Inference;

/// <summary>
/// GPU backend: a TrtNative engine (Builder → Engine → ExecutionContext) on one GPU. The engine's optimisation
/// profile covers batch 1..maxBatchSize at the service's C×H×W. The plan is saved in the repository under
/// DeepDetect's name, {tensorRTEngineFile}_arch{SM}_{dtype}_bs{maxBatchSize}, and reloaded at the next creation
/// (readEngine) unless it is stale (other GPU, libraries or model) or damaged, in which case it is rebuilt. Tactic
/// timings go to {tensorRTEngineFile}_timing.cache so rebuilds skip autotuning.
/// </summary>
public sealed class TrtNativeGpuBackend : IInferenceBackend
{
    private readonly CudaContext _ctx;
    private readonly Engine _engine;
    private readonly ExecutionContext _exec;
    private readonly string _in, _out;
    private readonly int _c, _h, _w;

    /// <summary>Loads or builds the engine (minutes for big models on a cold timing cache).</summary>
    public TrtNativeGpuBackend(BackendSpec spec, Action<string>? log = null)
    {
        int count = CudaDevice.Count;
        if (spec.GpuId >= count)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"gpuid {spec.GpuId} does not exist: this machine has {count} GPU(s)");
        _in = spec.Model.Input.Name;
        _out = spec.Model.Output.Name;
        (_c, _h, _w) = (spec.Channels, spec.Height, spec.Width);
        long fixedBatch = spec.Model.Input.Dims[0];
        MaxBatchSize = fixedBatch > 0 ? (int)fixedBatch : spec.MaxBatchSize;
        _ctx = CudaContext.Create(spec.GpuId);
        try
        {
            var sm = _ctx.Device.ComputeCapability.Sm;
            EngineFile = Path.Combine(spec.Repository, $"{spec.EngineFileName}_arch{sm}_{spec.DataType}_bs{MaxBatchSize}");
            string cacheFile = Path.Combine(spec.Repository, $"{spec.EngineFileName}_timing.cache");
            string hash = ModelHash.Compute(spec.ModelPath);
            // The config is known before any plan is read, so a plan built with other settings counts as stale.
            var cfg = new BuilderConfig { Precision = spec.DataType == "fp16" ? Precision.Fp16 : Precision.Fp32 };
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
                try
                {
                    engine = Engine.Load(_ctx, EngineFile, hash, cfg);
                    Source = $"loaded plan {Path.GetFileName(EngineFile)}";
                }
                catch (TrtNativeException e) when (e.Code is ErrorCode.StalePlan or ErrorCode.CorruptPlan)
                {
                    log?.Invoke($"rebuilding: {e.Message}");
                    Source = $"rebuilt ({e.Code})";
                }
            }
            if (engine == null)
            {
                cfg.TimingCache = TimingCacheFile.Load(cacheFile, msg => log?.Invoke(msg));
                engine = new Builder(_ctx).BuildFromOnnx(spec.ModelPath, cfg, log == null ? null : new Progress<string>(log));
                Source ??= "built";
                if (spec.WriteEngine)
                {
                    engine.Save(EngineFile);
                    TimingCacheFile.MergeAndSave(cacheFile, cfg.TimingCache, msg => log?.Invoke(msg));
                }
            }
            _engine = engine;
            try
            {
                _exec = engine.CreateExecutionContext();
            }
            catch
            {
                engine.Dispose();
                throw;
            }
            var probe = _exec.Run(new Dictionary<string, Tensor> { [_in] = Tensor.FromFloats(new float[_c * _h * _w], [1, _c, _h, _w]) });
            OutputSize = probe.TryGetValue(_out, out var o) ? o.Floats!.Length
                : throw new TrtNativeException(ErrorCode.InvalidModel, $"the engine has no output '{_out}' ({string.Join(", ", probe.Keys)})");
        }
        catch
        {
            _exec?.Dispose();
            _engine?.Dispose();
            _ctx.Dispose();
            throw;
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
    public long DeviceMemoryBytes => _engine.WeightBytes + _engine.ActivationBytes;

    /// <inheritdoc/>
    public float[] Run(ReadOnlySpan<float> input, int batch)
    {
        // ExecutionContext.Run takes a float[] of exactly batch × C × H × W: reuse one per batch size instead of
        // a fresh 19 MB array per batch of 32 (at most a few sizes are kept; under load nearly every batch is full).
        int n = batch * _c * _h * _w;
        if (!_staging.TryGetValue(batch, out var buf))
        {
            if (_staging.Count >= MaxStagingArrays) _staging.Remove(_staging.Keys.First(k => k != MaxBatchSize));
            _staging[batch] = buf = new float[n];
        }
        input[..n].CopyTo(buf);
        var x = Tensor.FromFloats(buf, [batch, _c, _h, _w]);
        _inputs[_in] = x;
        var y = _exec.Run(_inputs)[_out].Floats!;
        return y;
    }

    private const int MaxStagingArrays = 4;
    private readonly Dictionary<int, float[]> _staging = [];
    private readonly Dictionary<string, Tensor> _inputs = new(StringComparer.Ordinal);

    /// <summary>Frees the context, the engine and the CUDA context, in that order.</summary>
    public void Dispose()
    {
        _exec.Dispose();
        _engine.Dispose();
        _ctx.Dispose();
    }
}
