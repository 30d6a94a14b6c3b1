using TrtNative.Runtime;
namespace TrtNative.Server.Inference;

/// <summary>Which backend a service gets, and why.</summary>
public enum BackendKind { Cpu, Gpu }

/// <summary>Chooses and creates backends: GPU for mllib tensorrt when a GPU backend is usable, else ONNX Runtime CPU.</summary>
public class BackendFactory(ServerOptions opts, ILogger<BackendFactory>? log = null)
{
    /// <summary>True: the TrtNative engine backend is part of this server.</summary>
    public static bool GpuBackendBuiltIn => true;

    /// <summary>GPUs this machine has (for checking a service's gpuid).</summary>
    public virtual int GpuCount => TrtNative.Cuda.CudaDevice.Count;

    /// <summary>
    /// What GPU <paramref name="ordinal"/> is: its model decides which replicas share a plan. A device the driver cannot
    /// describe is "GPU n (undescribed)" with SM 0 (its backend's build then reports the driver's error). Virtual so
    /// tests can describe fake GPUs.
    /// </summary>
    public virtual GpuInfo Gpu(int ordinal)
    {
        try
        {
            var d = TrtNative.Cuda.CudaDevice.Get(ordinal);
            return new GpuInfo(d.Ordinal, d.Name, d.ComputeCapability.Sm, d.TotalMemory);
        }
        catch (TrtNativeException)
        {
            return new GpuInfo(ordinal, $"GPU {ordinal} (undescribed)", 0, 0);
        }
    }

    /// <summary>Picks the backend for an mllib ("tensorrt" or "onnxruntime"); <paramref name="reason"/> explains a CPU fallback.</summary>
    public virtual BackendKind Select(string mllib, out string reason)
    {
        if (mllib == "onnxruntime") { reason = "mllib onnxruntime runs on the CPU"; return BackendKind.Cpu; }
        if (opts.ForceCpu) { reason = "CPU forced by --cpu"; return BackendKind.Cpu; }
        if (!GpuProbe.IsAvailable(out var why)) { reason = $"no GPU: {why}; using ONNX Runtime CPU"; return BackendKind.Cpu; }
        if (!GpuBackendBuiltIn) { reason = $"GPU present ({why}) but this build has no GPU backend yet; using ONNX Runtime CPU"; return BackendKind.Cpu; }
        reason = "GPU";
        return BackendKind.Gpu;
    }

    /// <summary>Builds (or loads) the backend; may take long for GPU engines, so callers run it in the background. Virtual so tests can slow or fail a build.</summary>
    public virtual IInferenceBackend Create(BackendKind kind, BackendSpec spec) => kind switch
    {
        BackendKind.Cpu => new OnnxRuntimeBackend(spec),
        _ => new TrtNativeGpuBackend(spec, msg => log?.LogInformation("{Model}: {Msg}", Path.GetFileName(spec.ModelPath), msg),
            log is null ? null : new BuildProgressLog(log, Path.GetFileName(spec.ModelPath))),
    };
}

/// <summary>Logs each build phase as it starts and ends (typed: phase, step of total, message as structured fields).</summary>
public sealed class BuildProgressLog(ILogger log, string model) : IProgress<BuildProgress>
{
    /// <inheritdoc/>
    public void Report(BuildProgress value) =>
        log.LogInformation("{Model}: build {Phase} [{Step}/{Total}] {Message}", model, value.Phase, value.Step, value.Total, value.Message);
}
