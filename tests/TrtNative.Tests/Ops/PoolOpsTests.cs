using TrtNative.Ir;
using Xunit;
using static TrtNative.Tests.Ops.MathOpTestUtil;

namespace TrtNative.Tests.Ops;

public class PoolOpsTests
{
    private static Tensor Seq(int from, int count, params long[] shape) => F(Enumerable.Range(from, count).Select(i => (float)i).ToArray(), shape);

    [Fact]
    public void MaxPoolStridesCeilAndDilations()
    {
        var x = Seq(0, 16, 1, 1, 4, 4);
        var y = Run(Node("MaxPool", 1).Set("kernel_shape", new long[] { 2, 2 }).Set("strides", new long[] { 2, 2 }), 12, [x])[0];
        Assert.Equal(new float[] { 5, 7, 13, 15 }, y.Floats);
        var x1 = Seq(1, 16, 1, 1, 4, 4);
        var ceil = Run(Node("MaxPool", 1).Set("kernel_shape", new long[] { 3, 3 }).Set("strides", new long[] { 2, 2 }).Set("ceil_mode", 1L), 12, [x1])[0];
        Assert.Equal(new long[] { 1, 1, 2, 2 }, ceil.Shape);
        Assert.Equal(new float[] { 11, 12, 15, 16 }, ceil.Floats);
        var floor = Run(Node("MaxPool", 1).Set("kernel_shape", new long[] { 3, 3 }).Set("strides", new long[] { 2, 2 }), 12, [x1])[0];
        Assert.Equal(new float[] { 11 }, floor.Floats);
        var dil = Run(Node("MaxPool", 1).Set("kernel_shape", new long[] { 2, 2 }).Set("dilations", new long[] { 2, 2 }), 12, [x1])[0];
        Assert.Equal(new float[] { 11, 12, 15, 16 }, dil.Floats);
    }

    [Fact]
    public void CeilModeDropsWindowStartingInPadding()
    {
        // 4 wide, kernel 2, stride 3, pad end 2: ceil gives 3 windows starting at 0, 3, 6; the one at 6 starts in the
        // end padding and is dropped. Without ceil_mode there are 2 anyway.
        var x = Seq(1, 4, 1, 1, 4);
        var y = Run(Node("MaxPool", 1).Set("kernel_shape", new long[] { 2 }).Set("strides", new long[] { 3 }).Set("pads", new long[] { 0, 2 }).Set("ceil_mode", 1L), 12, [x])[0];
        var keep = Run(Node("MaxPool", 1).Set("kernel_shape", new long[] { 2 }).Set("strides", new long[] { 2 }).Set("ceil_mode", 1L), 12, [Seq(1, 5, 1, 1, 5)])[0];
        Assert.Equal(new float[] { 2, 4, 5 }, keep.Floats);
        Assert.Equal(new float[] { 2, 4 }, y.Floats);
    }

    [Fact]
    public void MaxPoolIndicesRowAndColumnMajor()
    {
        var x = Seq(1, 25, 1, 1, 5, 5);
        var outs = Run(new TrtNative.Ir.Node("MaxPool", ["in0"], ["y", "i"], "n0").Set("kernel_shape", new long[] { 2, 2 }).Set("strides", new long[] { 2, 2 }).Set("storage_order", 1L), 12, [x]);
        Assert.Equal(new float[] { 7, 9, 17, 19 }, outs[0].Floats);
        Assert.Equal(new long[] { 6, 16, 8, 18 }, outs[1].Ints);
        var rowMajor = Run(new TrtNative.Ir.Node("MaxPool", ["in0"], ["y", "i"], "n0").Set("kernel_shape", new long[] { 5, 5 }).Set("pads", new long[] { 2, 2, 2, 2 }), 12, [x]);
        Assert.Equal(new float[] { 13, 14, 15, 15, 15 }, rowMajor[0].Floats![..5]);
        Assert.Equal(new long[] { 12, 13, 14, 14, 14 }, rowMajor[1].Ints![..5]);
        // The image/channel offset is part of the index.
        var two = Run(new TrtNative.Ir.Node("MaxPool", ["in0"], ["y", "i"], "n0").Set("kernel_shape", new long[] { 2, 2 }), 12, [Seq(0, 8, 1, 2, 2, 2)]);
        Assert.Equal(new long[] { 3, 7 }, two[1].Ints);
    }

    [Fact]
    public void AveragePoolPadsCountIncludePadAndCeil()
    {
        var ones = F(Enumerable.Repeat(1f, 9).ToArray(), 1, 1, 3, 3);
        var node = Node("AveragePool", 1).Set("kernel_shape", new long[] { 3, 3 }).Set("pads", new long[] { 1, 1, 1, 1 });
        Assert.Equal(Enumerable.Repeat(1f, 9), Run(node, 11, [ones])[0].Floats!);
        var incl = Run(node.Clone().Set("count_include_pad", 1L), 11, [ones])[0];
        Close([4 / 9f, 6 / 9f, 4 / 9f, 6 / 9f, 1, 6 / 9f, 4 / 9f, 6 / 9f, 4 / 9f], incl.Floats!);
        var ceil = Run(Node("AveragePool", 1).Set("kernel_shape", new long[] { 3, 3 }).Set("strides", new long[] { 2, 2 }).Set("ceil_mode", 1L), 11, [Seq(1, 16, 1, 1, 4, 4)])[0];
        Assert.Equal(new float[] { 6, 7.5f, 12, 13.5f }, ceil.Floats);
        var same = Run(Node("AveragePool", 1).Set("kernel_shape", new long[] { 2, 2 }).Set("auto_pad", "SAME_UPPER"), 11, [Seq(1, 9, 1, 1, 3, 3)])[0];
        Assert.Equal(new long[] { 1, 1, 3, 3 }, same.Shape);
        Assert.Equal(new float[] { 3, 4, 4.5f, 6, 7, 7.5f, 7.5f, 8.5f, 9 }, same.Floats);
    }

    [Fact]
    public void GlobalPoolsAndSymbolicShapes()
    {
        var x = Seq(0, 12, 2, 2, 3);
        Assert.Equal(new float[] { 1, 4, 7, 10 }, Run(Node("GlobalAveragePool", 1), 11, [x])[0].Floats);
        var gm = Run(Node("GlobalMaxPool", 1), 11, [F(Enumerable.Range(0, 16).Select(i => (float)i).ToArray(), 1, 2, 2, 4)])[0];
        Assert.Equal(new long[] { 1, 2, 1, 1 }, gm.Shape);
        Assert.Equal(new float[] { 7, 15 }, gm.Floats);
        var n = Dim.Sym("batch");
        var info = Infer(Node("MaxPool", 1).Set("kernel_shape", new long[] { 3, 3 }).Set("strides", new long[] { 2, 2 }).Set("pads", new long[] { 1, 1, 1, 1 }), 12,
            [(DataType.Float, [n, Dim.Of(64), Dim.Of(112), Dim.Of(112)])]);
        Assert.Equal(new[] { n, Dim.Of(64), Dim.Of(56), Dim.Of(56) }, info[0].Shape);
        var e = Assert.Throws<TrtNativeException>(() => Infer(Node("MaxPool", 1), 12, [(DataType.Float, Shapes.Of(1, 1, 4, 4))]));
        Assert.Contains("kernel_shape", e.Message);
    }
}
