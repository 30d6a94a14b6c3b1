using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class OptimizerTests
{
    [Fact]
    public void PipelineRunsThePassesInTheDocumentedOrder()
    {
        Assert.Equal(
            ["FoldConstants", "RemoveIdentities", "FoldBatchNormIntoConv", "PatchifyConvAsMatMul", "FuseConvActivation", "FoldScaleIntoMatMul",
             "FuseGemmActivation", "SplitBeforeTranspose", "FuseAttention", "RemoveNoOpReshapes", "FoldConstants (again)", "FuseGelu", "RemoveDeadNodes"],
            Optimizer.Pipeline.Select(p => p.Name));
    }

    /// <summary>A tiny ResNet: stem Conv-BN-Relu, one basic block with a residual, pooling, a classifier head.</summary>
    private static Graph TinyResNet()
    {
        var b = new GraphBuilder(13);
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(3), Dim.Of(8), Dim.Of(8)]);
        string ConvBn(string input, int cin, int cout, string name)
        {
            var c = b.Op("Conv", [input, b.Init($"{name}_w", [cout, cin, 3, 3])], n => n.Set("pads", new long[] { 1, 1, 1, 1 }), name);
            return b.Node("BatchNormalization",
                [c, b.Init($"{name}_s", [cout], 0.5f, 2f), b.Init($"{name}_bb", [cout]), b.Init($"{name}_m", [cout]), b.Init($"{name}_v", [cout], 0.5f, 2f)],
                name: $"{name}_bn").Outputs[0];
        }
        var stem = b.Op("Relu", ConvBn(x, 3, 4, "stem"));
        var h = b.Op("Relu", ConvBn(stem, 4, 4, "block_a"));
        var sum = b.Op("Add", ConvBn(h, 4, 4, "block_b"), stem);
        var act = b.Op("Identity", b.Op("Relu", sum));
        var pooled = b.Op("GlobalAveragePool", act);
        // Exporter-style flatten: Shape → Gather → Unsqueeze → Concat → Reshape.
        var n = b.Op("Unsqueeze", b.Op("Gather", b.Op("Shape", pooled), b.Init("zero", Tensor.FromInts([0], []))), b.Ints("ax", 0));
        var target = b.Op("Concat", [n, b.Ints("minus1", -1)], node => node.Set("axis", 0L));
        var flat = b.Op("Reshape", pooled, target);
        var logits = b.Op("Gemm", [flat, b.Init("fc_w", [10, 4]), b.Init("fc_b", [10])], node => node.Set("transB", 1L));
        b.Op("Neg", b.Init("dead_k", [2]));   // dead
        return b.Build(logits);
    }

    [Fact]
    public void TinyResNetOptimizesToFusedConvsWithTheSameOutputs()
    {
        var g = TinyResNet();
        var log = new PassLog();

        var after = Optimizer.Optimize(g, log);

        Assert.Equal(3, Count(after, "trtnative.FusedConv"));
        Assert.Equal(0, Count(after, "BatchNormalization"));
        Assert.Equal(0, Count(after, "Conv"));
        Assert.Equal(0, Count(after, "Identity"));
        Assert.Equal(0, Count(after, "Shape"));
        Assert.Equal(0, Count(after, "Neg"));
        Assert.Equal(["FusedConv", "FusedConv", "FusedConv", "GlobalAveragePool", "Reshape", "Gemm"], after.Nodes.Select(x => x.OpType));
        Assert.Equal(3, log.Entries.Count(e => e.Pass == nameof(GraphPasses.FoldBatchNormIntoConv)));
        Assert.Equal(4, after.Nodes[2].Inputs.Count);   // residual
        SameOutputs(g, after);
    }

    [Fact]
    public void OptimizingAnOptimizedGraphChangesNothing()
    {
        var once = Optimizer.Optimize(TinyResNet());
        var log = new PassLog();

        var twice = Optimizer.Optimize(once, log);

        Assert.Empty(log.Entries);
        Assert.Equal(once.Dump(), twice.Dump());
    }
}
