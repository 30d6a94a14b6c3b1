using TrtNative.Compiler;
using TrtNative.Ir;
using TrtNative.Passes;
using TrtNative.Tests.Support;

namespace TrtNative.Tests.Compiler;

/// <summary>A graph optimized, lowered and run in <see cref="ProgramInterpreter"/>, next to the reference executor on the original graph.</summary>
internal sealed record InterpretedLowering(Graph Optimized, LayerProgram Program, double Error, int Seed)
{
    /// <summary>
    /// Optimizes and lowers <paramref name="g"/>, runs it on fresh N(0,1) inputs of the given shapes (input i from seed + i)
    /// and returns the largest rel L2 over the graph's outputs against the reference executor.
    /// </summary>
    public static InterpretedLowering Run(Graph g, bool fp16, params (string Name, long[] Shape)[] inputs)
    {
        var optimized = Optimizer.Optimize(g);
        var program = GpuLowering.Lower(optimized, fp16);
        int seed = RandomTensors.FreshSeed();
        var values = inputs.Select((x, i) => (x.Name, T: RandomTensors.Normal(x.Shape, seed + i))).ToDictionary(x => x.Name, x => x.T);
        var want = TrtNative.Reference.ReferenceExecutor.Run(g, values);
        var got = new ProgramInterpreter(program).Run(values);
        double err = g.Outputs.Max(o => RelativeL2.Of(got[o.Name], want[o.Name]));
        return new InterpretedLowering(optimized, program, err, seed);
    }
}
