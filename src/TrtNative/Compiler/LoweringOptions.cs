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

/// <summary>A node that runs in fp32 in a reduced-precision program, and why.</summary>
/// <param name="Node">The node's name in the optimized graph.</param>
/// <param name="Op">Its op ("Conv", "trtnative.FusedConv").</param>
/// <param name="Reason">Why it was kept in fp32, for people: "fp32 output reaches 1.2e+05, beyond fp16's range".</param>
public sealed record PrecisionChoice(string Node, string Op, string Reason)
{
    /// <summary>"conv2 (Conv): fp32 output reaches 1.2e+05, beyond fp16's range".</summary>
    public override string ToString() => $"{Node} ({Op}): {Reason}";
}
