using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using Xunit.Sdk;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

/// <summary>
/// The whole pipeline on random small CNNs mixing every pattern the passes know (BatchNorm, bias Adds, residuals,
/// activations including SiLU, Identity, no-op Reshapes, extra graph outputs on intermediates, a Gemm/MatMul head):
/// outputs must not change, and the structure must end up as the passes promise.
/// </summary>
public class RandomGraphTests
{
    private const int C = 4;

    [Fact]
    public void OptimizedRandomGraphsComputeTheSame()
    {
        int fused = 0, residual = 0;
        for (int k = 0; k < 25; k++)
        {
            int seed = Random.Shared.Next();
            var g = RandomCnn(new Random(seed), out int convs);
            var log = new PassLog();
            Graph after;
            try
            {
                after = Optimizer.Optimize(g, log);
                SameOutputs(g, after, runs: 2);
            }
            catch (Exception e) when (e is XunitException or TrtNativeException)
            {
                throw new XunitException($"random graph seed {seed}: {e.Message}\n{g.Dump(includeShapes: false)}");
            }
            Assert.True(Count(after, "BatchNormalization") == 0, $"seed {seed}: a BatchNormalization after a Conv was not folded");
            Assert.True(Count(after, "Identity") == 0, $"seed {seed}: an Identity survived");
            Assert.True(Count(after, "Conv") + Count(after, "trtnative.FusedConv") == convs, $"seed {seed}: Conv count changed");
            fused += Count(after, "trtnative.FusedConv");
            residual += after.Nodes.Count(n => n.OpType == "FusedConv" && n.HasInput(3));
        }
        // Over 25 graphs the patterns certainly occurred; none fused would mean the comparisons checked nothing.
        Assert.True(fused > 0 && residual > 0, $"{fused} FusedConv, {residual} with a residual over 25 random graphs");
    }

    private static Graph RandomCnn(Random rng, out int convs)
    {
        var b = new GraphBuilder(14);   // HardSwish needs 14
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(C), Dim.Of(6), Dim.Of(6)]);
        var values = new List<string> { x };   // every [batch, C, 6, 6] value so far, candidates for residuals
        var outputs = new List<string>();
        string cur = x;
        int blocks = rng.Next(1, 5);
        convs = blocks;
        string Init(string name, long[] shape, float lo = -1, float hi = 1) => b.Init($"{name}_{rng.Next()}", shape, lo, hi);

        for (int i = 0; i < blocks; i++)
        {
            var inputs = new List<string> { cur, Init("w", [C, C, 3, 3], -0.5f, 0.5f) };
            if (rng.Next(2) == 0) inputs.Add(Init("b", [C]));
            cur = b.Op("Conv", [.. inputs], n => n.Set("pads", new long[] { 1, 1, 1, 1 }));
            if (rng.Next(2) == 0)
                cur = b.Node("BatchNormalization", [cur, Init("s", [C], 0.5f, 2f), Init("bb", [C]), Init("m", [C]), Init("v", [C], 0.5f, 2f)]).Outputs[0];
            if (rng.Next(3) == 0) cur = b.Op("Add", cur, Init("k", rng.Next(2) == 0 ? [1, C, 1, 1] : [C, 1, 1]));
            if (rng.Next(2) == 0) cur = rng.Next(2) == 0 ? b.Op("Add", cur, values[rng.Next(values.Count)]) : b.Op("Add", values[rng.Next(values.Count)], cur);
            if (rng.Next(6) == 0) outputs.Add(cur);   // an intermediate that is also a graph output blocks fusion past it
            cur = rng.Next(9) switch
            {
                0 => b.Op("Relu", cur),
                1 => b.Op("Clip", cur, b.Scalar($"lo{i}", 0f), b.Scalar($"hi{i}", 6f)),
                2 => b.Op("Mul", cur, b.Op("Sigmoid", cur)),
                3 => b.Op("HardSwish", cur),
                4 => b.Op("LeakyRelu", [cur], n => n.Set("alpha", 0.1f)),
                5 => b.Op("Tanh", cur),
                6 => b.Op("HardSigmoid", cur),
                7 => b.Op("Sigmoid", cur),
                _ => cur,
            };
            if (rng.Next(4) == 0) cur = b.Op("Identity", cur);
            if (rng.Next(4) == 0) cur = b.Op("Reshape", cur, b.Ints($"same{i}", 0, C, 6, 6));
            values.Add(cur);
        }

        var pooled = b.Op("Flatten", b.Op("GlobalAveragePool", cur));
        var logits = b.Op("Gemm", [pooled, Init("fc", [5, C]), Init("fcb", [5])], n => n.Set("transB", 1L));
        if (rng.Next(2) == 0) logits = b.Op("Relu", logits);
        var head = b.Op("Add", b.Op("MatMul", logits, Init("w2", [5, 3])), Init("b2", [3]));
        if (rng.Next(2) == 0) head = b.Op("Tanh", head);
        outputs.Insert(0, head);
        return b.Build([.. outputs.Distinct()]);
    }
}
