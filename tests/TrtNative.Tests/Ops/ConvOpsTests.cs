using System.Diagnostics;
using TrtNative.Ir;
using TrtNative.Ops;
using Xunit;
using static TrtNative.Tests.Ops.MathOpTestUtil;

namespace TrtNative.Tests.Ops;

public class ConvOpsTests(ITestOutputHelper output)
{
    /// <summary>Plain 2-D convolution by definition (double accumulation), for property checks.</summary>
    private static float[] NaiveConv2D(float[] x, float[] w, float[]? b, int n, int c, int h, int wd, int m, int kh, int kw,
        int group, int sh, int sw, int dh, int dw, int pt, int pl, int oh, int ow)
    {
        int cg = c / group, mg = m / group;
        var y = new float[n * m * oh * ow];
        for (int bi = 0; bi < n; bi++)
            for (int oc = 0; oc < m; oc++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double s = b?[oc] ?? 0;
                        int g = oc / mg;
                        for (int ic = 0; ic < cg; ic++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++)
                                {
                                    int iy = oy * sh + ky * dh - pt, ix = ox * sw + kx * dw - pl;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    s += (double)x[((bi * c + g * cg + ic) * h + iy) * wd + ix] * w[((oc * cg + ic) * kh + ky) * kw + kx];
                                }
                        y[((bi * m + oc) * oh + oy) * ow + ox] = (float)s;
                    }
        return y;
    }

    [Fact]
    public void BasicConvWithAndWithoutPadding()
    {
        var x = F(Enumerable.Range(0, 25).Select(i => (float)i).ToArray(), 1, 1, 5, 5);
        var w = F(Enumerable.Repeat(1f, 9).ToArray(), 1, 1, 3, 3);
        var padded = Run(Node("Conv", 2).Set("kernel_shape", new long[] { 3, 3 }).Set("pads", new long[] { 1, 1, 1, 1 }), 11, [x, w])[0];
        Assert.Equal(new float[] { 12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84 }, padded.Floats);
        var valid = Run(Node("Conv", 2), 11, [x, w])[0];
        Assert.Equal(new long[] { 1, 1, 3, 3 }, valid.Shape);
        Assert.Equal(new float[] { 54, 63, 72, 99, 108, 117, 144, 153, 162 }, valid.Floats);
        var strided = Run(Node("Conv", 2).Set("strides", new long[] { 2, 2 }).Set("pads", new long[] { 1, 0, 1, 0 }), 11,
            [F(Enumerable.Range(0, 35).Select(i => (float)i).ToArray(), 1, 1, 7, 5), w])[0];
        Assert.Equal(new long[] { 1, 1, 4, 2 }, strided.Shape);
        Assert.Equal(new float[] { 21, 33, 99, 117, 189, 207, 171, 183 }, strided.Floats); // ONNX test_conv_with_strides_and_asymmetric_padding
    }

    [Theory]
    // n, c, h, w, m, kh, kw, group, stride, dilation, pads(t,l,b,r)
    [InlineData(2, 3, 9, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1)]
    [InlineData(1, 4, 10, 10, 6, 3, 3, 2, 2, 1, 1, 0, 0, 1)]
    [InlineData(2, 6, 7, 9, 6, 3, 3, 6, 1, 1, 1, 1, 1, 1)]   // depthwise
    [InlineData(1, 6, 12, 12, 6, 5, 5, 6, 2, 2, 2, 2, 2, 2)] // depthwise, strided, dilated
    [InlineData(1, 4, 8, 8, 8, 3, 3, 4, 1, 1, 1, 1, 1, 1)]   // channel multiplier 2
    [InlineData(3, 16, 6, 6, 20, 1, 1, 1, 1, 1, 0, 0, 0, 0)] // 1x1
    [InlineData(1, 3, 23, 23, 8, 7, 7, 1, 2, 1, 3, 3, 3, 3)] // ResNet stem
    [InlineData(1, 5, 9, 11, 7, 2, 4, 1, 3, 2, 0, 1, 2, 3)]
    public void ConvMatchesDefinition(int n, int c, int h, int wd, int m, int kh, int kw, int group, int stride, int dil, int pt, int pl, int pb, int pr)
    {
        var rng = new Random(n + c * 7 + h * 31 + m * 101 + kh);
        var x = Random(rng, n * c * h * wd);
        var w = Random(rng, m * (c / group) * kh * kw);
        var b = Random(rng, m);
        int oh = (h + pt + pb - ((kh - 1) * dil + 1)) / stride + 1, ow = (wd + pl + pr - ((kw - 1) * dil + 1)) / stride + 1;
        var node = Node("Conv", 3).Set("group", (long)group).Set("strides", new long[] { stride, stride })
            .Set("dilations", new long[] { dil, dil }).Set("pads", new long[] { pt, pl, pb, pr });
        var y = Run(node, 11, [F(x, n, c, h, wd), F(w, m, c / group, kh, kw), F(b, m)])[0];
        Assert.Equal(new long[] { n, m, oh, ow }, y.Shape);
        var want = NaiveConv2D(x, w, b, n, c, h, wd, m, kh, kw, group, stride, stride, dil, dil, pt, pl, oh, ow);
        Assert.True(RelL2(want, y.Floats!) < 1e-6, $"relative L2 {RelL2(want, y.Floats!)}");
    }

    [Fact]
    public void DepthwiseEqualsGroupedAsSeparateConvs()
    {
        // A depthwise conv is C single-channel convs; compare channel by channel.
        var rng = new Random(9);
        int c = 3;
        var x = Random(rng, c * 36);
        var w = Random(rng, c * 9);
        var node = Node("Conv", 2).Set("group", (long)c).Set("pads", new long[] { 1, 1, 1, 1 });
        var y = Run(node, 11, [F(x, 1, c, 6, 6), F(w, c, 1, 3, 3)])[0];
        for (int ch = 0; ch < c; ch++)
        {
            var single = Run(Node("Conv", 2).Set("pads", new long[] { 1, 1, 1, 1 }), 11,
                [F(x[(ch * 36)..(ch * 36 + 36)], 1, 1, 6, 6), F(w[(ch * 9)..(ch * 9 + 9)], 1, 1, 3, 3)])[0];
            Close(single.Floats!, y.Floats![(ch * 36)..(ch * 36 + 36)]);
        }
    }

    [Theory]
    [InlineData("SAME_UPPER", 0, 1)]
    [InlineData("SAME_LOWER", 1, 0)]
    public void AutoPadSame(string mode, int padBegin, int padEnd)
    {
        var rng = new Random(4);
        var x = Random(rng, 1 * 2 * 6 * 6);
        var w = Random(rng, 3 * 2 * 2 * 2);
        var auto = Run(Node("Conv", 2).Set("auto_pad", mode).Set("strides", new long[] { 2, 2 }), 11, [F(x, 1, 2, 6, 6), F(w, 3, 2, 2, 2)])[0];
        Assert.Equal(new long[] { 1, 3, 3, 3 }, auto.Shape);
        // 6 in, stride 2, kernel 2: out 3, total pad 0 → both modes equal explicit zero pads; check with kernel 3 too.
        var w3 = Random(rng, 3 * 2 * 3 * 3);
        var a3 = Run(Node("Conv", 2).Set("auto_pad", mode).Set("strides", new long[] { 2, 2 }), 11, [F(x, 1, 2, 6, 6), F(w3, 3, 2, 3, 3)])[0];
        var e3 = Run(Node("Conv", 2).Set("strides", new long[] { 2, 2 }).Set("pads", new long[] { padBegin, padBegin, padEnd, padEnd }), 11,
            [F(x, 1, 2, 6, 6), F(w3, 3, 2, 3, 3)])[0];
        Assert.Equal(e3.Shape, a3.Shape);
        Assert.Equal(e3.Floats, a3.Floats);
        var valid = Run(Node("Conv", 2).Set("auto_pad", "VALID").Set("strides", new long[] { 2, 2 }), 11, [F(x, 1, 2, 6, 6), F(w3, 3, 2, 3, 3)])[0];
        Assert.Equal(new long[] { 1, 3, 2, 2 }, valid.Shape);
    }

    [Fact]
    public void Conv1DAnd3DMatchNaive()
    {
        var rng = new Random(2);
        // 1-D as a 2-D conv of height 1.
        var x = Random(rng, 2 * 3 * 11);
        var w = Random(rng, 4 * 3 * 3);
        var y1 = Run(Node("Conv", 2).Set("pads", new long[] { 1, 2 }).Set("strides", new long[] { 2 }), 11, [F(x, 2, 3, 11), F(w, 4, 3, 3)])[0];
        var y2 = Run(Node("Conv", 2).Set("pads", new long[] { 0, 1, 0, 2 }).Set("strides", new long[] { 1, 2 }), 11, [F(x, 2, 3, 1, 11), F(w, 4, 3, 1, 3)])[0];
        Assert.Equal(new long[] { 2, 4, 6 }, y1.Shape);
        Close(y2.Floats!, y1.Floats!);
        // 3-D with depth-1 kernel equals 2-D per depth slice.
        var x3 = Random(rng, 1 * 2 * 3 * 5 * 5);
        var w3 = Random(rng, 2 * 2 * 1 * 3 * 3);
        var y3 = Run(Node("Conv", 2).Set("pads", new long[] { 0, 1, 1, 0, 1, 1 }), 11, [F(x3, 1, 2, 3, 5, 5), F(w3, 2, 2, 1, 3, 3)])[0];
        Assert.Equal(new long[] { 1, 2, 3, 5, 5 }, y3.Shape);
        var wf = F(w3, 2, 2, 3, 3);
        for (int d = 0; d < 3; d++)
        {
            var slice = new float[2 * 25];
            for (int ch = 0; ch < 2; ch++) Array.Copy(x3, (ch * 3 + d) * 25, slice, ch * 25, 25);
            var y2d = Run(Node("Conv", 2).Set("pads", new long[] { 1, 1, 1, 1 }), 11, [F(slice, 1, 2, 5, 5), wf])[0];
            for (int oc = 0; oc < 2; oc++)
                Close(y2d.Floats![(oc * 25)..(oc * 25 + 25)], y3.Floats![((oc * 3 + d) * 25)..((oc * 3 + d) * 25 + 25)]);
        }
    }

    [Fact]
    public void ShapeFunctionSymbolicBatchAndErrors()
    {
        var n = Dim.Sym("batch");
        var node = Node("Conv", 3).Set("strides", new long[] { 2, 2 }).Set("pads", new long[] { 3, 3, 3, 3 });
        var info = Infer(node, 11, [(DataType.Float16, [n, Dim.Of(3), Dim.Of(224), Dim.Of(224)]), (DataType.Float16, Shapes.Of(64, 3, 7, 7)), (DataType.Float16, Shapes.Of(64))]);
        Assert.Equal(new[] { n, Dim.Of(64), Dim.Of(112), Dim.Of(112) }, info[0].Shape);
        Assert.Equal(DataType.Float16, info[0].Type);
        var e = Assert.Throws<TrtNativeException>(() => Infer(Node("Conv", 2), 11, [(DataType.Float, Shapes.Of(1, 4, 8, 8)), (DataType.Float, Shapes.Of(8, 3, 3, 3))]));
        Assert.Contains("channels", e.Message);
        e = Assert.Throws<TrtNativeException>(() => Infer(Node("Conv", 2).Set("kernel_shape", new long[] { 5, 5 }), 11, [(DataType.Float, Shapes.Of(1, 3, 8, 8)), (DataType.Float, Shapes.Of(8, 3, 3, 3))]));
        Assert.Contains("kernel_shape", e.Message);
        e = Assert.Throws<TrtNativeException>(() => Infer(Node("Conv", 2).Set("auto_pad", "SAME"), 11, [(DataType.Float, Shapes.Of(1, 3, 8, 8)), (DataType.Float, Shapes.Of(8, 3, 3, 3))]));
        Assert.Contains("auto_pad", e.Message);
    }

    [Fact]
    public void ResNetSizedConvIsFast()
    {
        // The costliest ResNet-50 layer shape class: 3x3, 128 -> 128 channels at 28x28.
        var rng = new Random(1);
        var x = F(Random(rng, 128 * 28 * 28), 1, 128, 28, 28);
        var w = F(Random(rng, 128 * 128 * 9), 128, 128, 3, 3);
        var node = Node("Conv", 2).Set("pads", new long[] { 1, 1, 1, 1 });
        Run(node, 11, [x, w]);
        var sw = Stopwatch.StartNew();
        Run(node, 11, [x, w]);
        output.WriteLine($"3x3 conv 128->128 @28x28: {sw.Elapsed.TotalMilliseconds:F1} ms ({2.0 * 128 * 128 * 9 * 784 / sw.Elapsed.TotalSeconds / 1e9:F1} GFLOP/s)");
        Assert.True(sw.Elapsed.TotalSeconds < 2);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ConvTransposeIsTheAdjointOfConv(int group)
    {
        // <conv(x, w), y> = <x, convT(y, w)> for the same W, strides, pads, dilations (output_padding restores the size).
        var rng = new Random(11 + group);
        int c = 4, m = 6, h = 8, wd = 7;
        var x = Random(rng, c * h * wd);
        var w = Random(rng, m * (c / group) * 9);
        var attrs = (TrtNative.Ir.Node n) => n.Set("group", (long)group).Set("strides", new long[] { 2, 2 }).Set("pads", new long[] { 1, 1, 1, 1 });
        var cx = Run(attrs(Node("Conv", 2)), 13, [F(x, 1, c, h, wd), F(w, m, c / group, 3, 3)])[0];
        Assert.Equal(new long[] { 1, m, 4, 4 }, cx.Shape);
        var y = Random(rng, cx.Length);
        var ty = Run(attrs(Node("ConvTranspose", 2)).Set("output_padding", new long[] { 1, 0 }), 13, [F(y, 1, m, 4, 4), F(w, m, c / group, 3, 3)])[0];
        Assert.Equal(new long[] { 1, c, h, wd }, ty.Shape);
        double lhs = cx.Floats!.Zip(y).Sum(p => (double)p.First * p.Second);
        double rhs = x.Zip(ty.Floats!).Sum(p => (double)p.First * p.Second);
        Assert.Equal(lhs, rhs, 1e-4 * Math.Max(1, Math.Abs(lhs)));
    }
}
