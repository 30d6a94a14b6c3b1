namespace TrtNative.Passes;

/// <summary>
/// The optimization passes, one per file. Each takes a graph and returns a new one (the input is not changed),
/// noting every change in the <see cref="PassLog"/>; <see cref="Optimizer.Pipeline"/> runs them in order.
/// </summary>
public static partial class GraphPasses
{
}
