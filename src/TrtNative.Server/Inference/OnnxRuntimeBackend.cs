using Microsoft.ML.OnnxRuntime;

namespace TrtNative.Server.Inference;

/// <summary>CPU backend: ONNX Runtime's CPU execution provider, one session per service.</summary>
public sealed class OnnxRuntimeBackend : IInferenceBackend
{
    private readonly InferenceSession _session;
    private readonly string _in, _out;
    private readonly int _c, _h, _w;
    private readonly int _fixedBatch; // > 0 when the model's batch dim is fixed: batches are padded to it
    private int _outputSize;

    /// <summary>Creates the session (graph optimisation happens here).</summary>
    public OnnxRuntimeBackend(BackendSpec spec)
    {
        using var so = new Microsoft.ML.OnnxRuntime.SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        if (spec.CpuThreads > 0) so.IntraOpNumThreads = spec.CpuThreads;
        _session = new InferenceSession(spec.ModelPath, so);
        _in = spec.Model.Input.Name;
        _out = spec.Model.Output.Name;
        (_c, _h, _w) = (spec.Channels, spec.Height, spec.Width);
        long b = spec.Model.Input.Dims[0];
        _fixedBatch = b > 0 ? (int)b : 0;
        MaxBatchSize = _fixedBatch > 0 ? _fixedBatch : Math.Max(1, spec.MaxBatchSize);
        _outputSize = spec.Model.StaticClasses ?? 0;
        if (_outputSize == 0)
        {
            // Symbolic class dim: run one zero item once to learn it.
            var r = RunFloats(BatchBuffer(1), 1);
            _outputSize = r.Length;
        }
    }

    /// <inheritdoc/>
    public string Kind => "onnxruntime-cpu";
    /// <inheritdoc/>
    public int MaxBatchSize { get; }
    /// <inheritdoc/>
    public int OutputSize => _outputSize;
    /// <inheritdoc/>
    public long DeviceMemoryBytes => 0;

    /// <inheritdoc/>
    public float[] Run(IReadOnlyList<PreparedImage> images)
    {
        int item = _c * _h * _w, batch = images.Count;
        var buf = BatchBuffer(batch);
        for (int i = 0; i < batch; i++)
        {
            if (images[i].Tensor is { } t) t.CopyTo(buf.AsSpan(i * item, item));
            else images[i].Normalization.ToPlanar(images[i].Pixels, _h, _w, images[i].Pixels.Length / (_h * _w), buf.AsSpan(i * item, item));
        }
        return RunFloats(buf, batch);
    }

    // A zeroed input for batch items: the model's fixed batch when it has one (the padding items stay zero).
    private float[] BatchBuffer(int batch)
    {
        int runBatch = _fixedBatch > 0 ? _fixedBatch : batch;
        if (batch < 1 || batch > runBatch) throw new ArgumentException($"batch {batch} is outside 1..{runBatch}");
        return new float[runBatch * _c * _h * _w];
    }

    // buf from BatchBuffer(batch); returns the first batch items' scores.
    private float[] RunFloats(float[] buf, int batch)
    {
        int runBatch = buf.Length / (_c * _h * _w);
        using var x = OrtValue.CreateTensorValueFromMemory(buf, [runBatch, _c, _h, _w]);
        // Held in a using: an inline `new RunOptions()` can be finalized while OrtRun still reads it (nothing keeps
        // it alive past the handle read), which crashed the server under load (segfault in libonnxruntime.so).
        using var runOptions = new RunOptions();
        using var results = _session.Run(runOptions, [_in], [x], [_out]);
        var y = results[0].GetTensorDataAsSpan<float>();
        int per = y.Length / runBatch;
        if (_outputSize > 0 && per != _outputSize)
            throw new InvalidOperationException($"output '{_out}' has {per} values per item, expected {_outputSize}");
        return y[..(batch * per)].ToArray();
    }

    /// <inheritdoc/>
    public void Dispose() => _session.Dispose();
}
