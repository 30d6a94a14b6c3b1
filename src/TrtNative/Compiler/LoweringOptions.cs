using TrtNative.Runtime;

namespace TrtNative.Compiler;

/// <summary>How <see cref="GpuLowering"/> lowers a graph: the program's precision, the nodes kept in fp32, observation.</summary>
internal sealed record LoweringOptions
{
    /// <summary>The program computes in fp16 (fp32 accumulation); false: fp32 everywhere.</summary>
    public bool Fp16 { get; init; }

    /// <summary>
    /// Nodes of the optimized graph (by name) that run in fp32 with fp32 weights in an fp16 program, each with the
    /// reason it was kept there (recorded in <see cref="LayerProgram.KeptFp32"/>).
    /// </summary>
    public IReadOnlyDictionary<string, string> KeepFp32 { get; init; } = new Dictionary<string, string>();

    /// <summary>Every run-time node output becomes an extra fp32 engine output named after the value (calibration).</summary>
    public bool Observe { get; init; }
}
