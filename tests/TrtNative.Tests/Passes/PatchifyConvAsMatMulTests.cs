using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

/// <summary><see cref="GraphPasses.PatchifyConvAsMatMul"/>: patch stems become patch rows times weights; other convs stay.</summary>
public class PatchifyConvAsMatMulTests
{
    private static Graph Stem(int cin, int k, int stride, bool bias, long[]? pads = null, int h = 8, int w = 12)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(cin), Dim.Of(h), Dim.Of(w)]);
        var inputs = new List<string> { x, b.Init("w", [16, cin, k, k]) };
        if (bias) inputs.Add(b.Init("b", [16]));
        var y = b.Op("Conv", inputs.ToArray(), n =>
        {
            n.Set("strides", new long[] { stride, stride }).Set("kernel_shape", new long[] { k, k });
            if (pads is not null) n.Set("pads", pads);
        });
        // Read in NCHW afterwards, as ViT's flatten to tokens does.
        return b.Build(b.Op("Relu", y));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void APatchStemIsPatchRowsTimesWeights(bool bias)
    {
        var g = Stem(cin: 2, k: 4, stride: 4, bias);
        var after = Apply(GraphPasses.PatchifyConvAsMatMul, g, out var log);
        Assert.DoesNotContain(after.Nodes, n => n.OpType == "Conv");
        Assert.Equal(bias ? ["Reshape", "Transpose", "Reshape", "MatMul", "Add", "Transpose", "Relu"] : ["Reshape", "Transpose", "Reshape", "MatMul", "Transpose", "Relu"],
            after.Nodes.Select(n => n.OpType));
        Assert.Single(log.Entries);
        SameOutputs(g, after);
    }

    [Theory]
    [InlineData(3, 3, 2, null)]            // kernel != stride
    [InlineData(8, 2, 2, null)]            // 8 channels in: a convolution engine's natural case
    [InlineData(3, 3, 3, null)]            // 27 = channels x kernel area, not a multiple of 8
    [InlineData(2, 4, 4, new long[] { 1, 1, 1, 1 })]  // padded
    public void OtherConvsStay(int cin, int k, int stride, long[]? pads)
    {
        var g = Stem(cin, k, stride, bias: true, pads, h: 12, w: 12);
        var after = Apply(GraphPasses.PatchifyConvAsMatMul, g, out var log);
        Assert.Contains(after.Nodes, n => n.OpType == "Conv");
        Assert.Empty(log.Entries);
    }
}
