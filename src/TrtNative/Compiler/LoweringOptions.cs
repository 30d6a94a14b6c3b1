using TrtNative.Interop;
using TrtNative.Runtime;

namespace TrtNative.Compiler;

/// <summary>How <see cref="GpuLowering"/> lowers a graph: the program's precision, the nodes kept in fp32, observation.</summary>
internal sealed record LoweringOptions
{
    /// <summary>The type the program computes in: fp32, or a reduced type (fp16, bf16; fp32 accumulation).</summary>
    public NativeDType Activation { get; init; } = NativeDType.Float32;

    /// <summary>Shorthand for <see cref="Activation"/> fp16 (true) or fp32 (false).</summary>
    public bool Fp16
    {
        get => Activation == NativeDType.Float16;
        init => Activation = value ? NativeDType.Float16 : NativeDType.Float32;
    }

    /// <summary>Whether the program computes in a reduced type (nodes can then be kept in fp32).</summary>
    public bool Reduced => Activation != NativeDType.Float32;

    /// <summary>
    /// Nodes of the optimized graph (by name) that run in fp32 with fp32 weights in a reduced program, each with the
    /// reason it was kept there (recorded in <see cref="LayerProgram.KeptFp32"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string> KeepFp32 { get; init; } = new Dictionary<string, string>();

    /// <summary>Every run-time node output becomes an extra fp32 engine output named after the value (calibration).</summary>
    public bool Observe { get; init; }
}
