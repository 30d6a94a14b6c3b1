using TrtNative.Ir;
using Xunit;

namespace TrtNative.Tests.Ops;

public class ResizeOpsTests
{
    private static readonly Dictionary<string, Tensor> None = new();
    private static Tensor Square => OpHarness.F([1, 2, 3, 4], 1, 1, 2, 2);
    private static Tensor Row(params float[] v) => OpHarness.F(v, 1, 1, 1, v.Length);
    private static Tensor Scales(params float[] s) => OpHarness.F(s, s.Length);
    private static Tensor Sizes(params long[] s) => OpHarness.I(s, s.Length);

    private static void Close(float[] expected, float[] actual, float tol = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol, $"element {i}: expected {expected[i]}, got {actual[i]}");
    }

    private static Tensor Resize(Tensor x, Action<Node>? attrs, Tensor? scales = null, Tensor? sizes = null, int opset = 13)
    {
        var constants = new Dictionary<string, Tensor>();
        if (scales is not null) constants["scales"] = scales;
        if (sizes is not null) constants["sizes"] = sizes;
        return OpHarness.Run1("Resize", opset, attrs, new() { ["x"] = x }, constants,
            ["x", "", scales is null ? "" : "scales", sizes is null ? "" : "sizes"]);
    }

    // ------------------------------------------------------------ Resize nearest

    [Fact]
    public void NearestUpsampleByScales()
    {
        var y = Resize(Square, n => n.Set("mode", "nearest"), Scales(1, 1, 2, 3));
        Assert.Equal(new long[] { 1, 1, 4, 6 }, y.Shape);
        Assert.Equal(new float[] { 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4 }, y.Floats);
    }

    [Fact]
    public void NearestDownsampleUsesGivenScale()
    {
        // Output 1x2 (floor(2*0.6), floor(4*0.6)); half_pixel x=1: 1.5/0.6-0.5 = 2 → column 2.
        var y = Resize(OpHarness.F([1, 2, 3, 4, 5, 6, 7, 8], 1, 1, 2, 4), n => n.Set("mode", "nearest"), Scales(1, 1, 0.6f, 0.6f));
        Assert.Equal(new long[] { 1, 1, 1, 2 }, y.Shape);
        Assert.Equal(new float[] { 1, 3 }, y.Floats);
    }

    [Theory]
    // asymmetric x/2: 0, .5, 1, 1.5, 2, 2.5, 3, 3.5
    [InlineData("asymmetric", "floor", new float[] { 1, 1, 2, 2, 3, 3, 4, 4 })]
    [InlineData("asymmetric", "round_prefer_ceil", new float[] { 1, 2, 2, 3, 3, 4, 4, 4 })]
    [InlineData("asymmetric", "round_prefer_floor", new float[] { 1, 1, 2, 2, 3, 3, 4, 4 })]
    [InlineData("asymmetric", "ceil", new float[] { 1, 2, 2, 3, 3, 4, 4, 4 })]
    // half_pixel (x+.5)/2-.5: -.25, .25, .75, 1.25, 1.75, 2.25, 2.75, 3.25
    [InlineData("half_pixel", "round_prefer_floor", new float[] { 1, 1, 2, 2, 3, 3, 4, 4 })]
    [InlineData("half_pixel", "ceil", new float[] { 1, 2, 2, 3, 3, 4, 4, 4 })]
    // align_corners x*3/7: 0, .43, .86, 1.29, 1.71, 2.14, 2.57, 3
    [InlineData("align_corners", "floor", new float[] { 1, 1, 1, 2, 2, 3, 3, 4 })]
    [InlineData("align_corners", "round_prefer_floor", new float[] { 1, 1, 2, 2, 3, 3, 4, 4 })]
    // tf_half_pixel_for_nearest (x+.5)/2: .25, .75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75
    [InlineData("tf_half_pixel_for_nearest", "round_prefer_floor", new float[] { 1, 2, 2, 3, 3, 4, 4, 4 })]
    public void NearestModesOnSizes(string coord, string nearest, float[] expected)
    {
        var y = Resize(Row(1, 2, 3, 4), n => n.Set("mode", "nearest").Set("coordinate_transformation_mode", coord).Set("nearest_mode", nearest), sizes: Sizes(1, 1, 1, 8));
        Assert.Equal(expected, y.Floats);
    }

    [Fact]
    public void NearestWorksOnIntegers()
    {
        var y = Resize(Tensor.FromInts([1, 2, 3, 4], [1, 1, 1, 4], DataType.UInt8), n => n.Set("mode", "nearest"), sizes: Sizes(1, 1, 1, 2));
        Assert.Equal(DataType.UInt8, y.Type);
        // half_pixel scale .5: (x+.5)*2-.5 = .5, 2.5 → round_prefer_floor 0, 2.
        Assert.Equal(new long[] { 1, 3 }, y.Ints);
    }

    // ------------------------------------------------------------ Resize linear

    [Fact]
    public void LinearHalfPixelUpsample()
    {
        var y = Resize(Square, n => n.Set("mode", "linear"), Scales(1, 1, 2, 2));
        Close([1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4], y.Floats!);
    }

    [Fact]
    public void LinearAlignCornersUpsample()
    {
        var y = Resize(Square, n => n.Set("mode", "linear").Set("coordinate_transformation_mode", "align_corners"), Scales(1, 1, 2, 2));
        float t = 1f / 3;
        Close([1, 1 + t, 1 + 2 * t, 2, 1 + 2 * t, 1 + 3 * t, 1 + 4 * t, 2 + 2 * t, 1 + 4 * t, 1 + 5 * t, 1 + 6 * t, 2 + 4 * t, 3, 3 + t, 3 + 2 * t, 4], y.Floats!);
    }

    [Fact]
    public void LinearAlignCornersUsesOutputLength()
    {
        // length_resized is the output size 2 (as ONNX Runtime and PyTorch), so x=1 maps to 1·3/1 = 3 → value 4,
        // whether scales or sizes give it. (The ONNX 1.12 reference uses 0.6·4 = 2.4 with scales and expects 3.142857.)
        var x = OpHarness.F([1, 2, 3, 4, 5, 6, 7, 8], 1, 1, 2, 4);
        var y = Resize(x, n => n.Set("mode", "linear").Set("coordinate_transformation_mode", "align_corners"), Scales(1, 1, 0.6f, 0.6f));
        Assert.Equal(new long[] { 1, 1, 1, 2 }, y.Shape);
        Close([1, 4], y.Floats!);
        var bySizes = Resize(x, n => n.Set("mode", "linear").Set("coordinate_transformation_mode", "align_corners"), sizes: Sizes(1, 1, 1, 2));
        Close([1, 4], bySizes.Floats!);
    }

    [Fact]
    public void NearestCoordinatesUseFloat32LikeOnnxRuntime()
    {
        // 7 → 1 with half_pixel: (0.5)/(1/7f) − 0.5 is 2.9999998 in float32 (3 in double); floor picks column 2.
        var y = Resize(Row(10, 11, 12, 13, 14, 15, 16), n => n.Set("mode", "nearest").Set("nearest_mode", "floor"), sizes: Sizes(1, 1, 1, 1));
        Assert.Equal(new float[] { 12 }, y.Floats);
    }

    [Fact]
    public void LinearPytorchHalfPixelAndAsymmetric()
    {
        // pytorch_half_pixel to size 1 samples coordinate 0; asymmetric x2: 0, .5, 1, 1.5 → 1, 1.5, 2, 2 (edge clamp).
        var one = Resize(Row(1, 2, 3, 4), n => n.Set("mode", "linear").Set("coordinate_transformation_mode", "pytorch_half_pixel"), sizes: Sizes(1, 1, 1, 1));
        Close([1], one.Floats!);
        var asym = Resize(Row(1, 2), n => n.Set("mode", "linear").Set("coordinate_transformation_mode", "asymmetric"), Scales(1, 1, 1, 2));
        Close([1, 1.5f, 2, 2], asym.Floats!);
    }

    [Fact]
    public void LinearIsSeparableOver3Axes()
    {
        // Trilinear on a 2x2x2 cube with values 4z+2y+x, doubled along z only (half_pixel): planes at z' = -.25, .25, .75, 1.25
        // are 0, 1, 3, 4 plus the in-plane value 2y+x.
        var x = OpHarness.Range(1, 2, 2, 2);
        var y = Resize(x, n => n.Set("mode", "linear"), Scales(1, 2, 1, 1));
        Assert.Equal(new long[] { 1, 4, 2, 2 }, y.Shape);
        Close([0, 1, 2, 3, 1, 2, 3, 4, 3, 4, 5, 6, 4, 5, 6, 7], y.Floats!);
    }

    [Fact]
    public void TfCropAndResizeExtrapolates()
    {
        // roi on the last axis [0.5, 1.5] of a width-3 row: source coords 1, 1.5, 2, 2.5(outside), 3(outside) over 5 outputs.
        var x = Row(10, 20, 30);
        var node = new Node("Resize", ["x", "roi", "", "sizes"], ["y"], "r").Set("mode", "linear")
            .Set("coordinate_transformation_mode", "tf_crop_and_resize").Set("extrapolation_value", -1f);
        var g = OpHarness.OneNode(node, 13, new() { ["x"] = x }, new()
        {
            ["roi"] = OpHarness.F([0, 0, 0, 0.5f, 1, 1, 1, 1.5f], 8),
            ["sizes"] = Sizes(1, 1, 1, 5),
        });
        ShapeInference.Run(g);
        var y = TrtNative.Reference.ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x })["y"];
        Close([20, 25, 30, -1, -1], y.Floats!);
    }

    // ------------------------------------------------------------ Resize shapes and errors

    [Fact]
    public void ResizeShapeOnSymbolicBatch()
    {
        var node = new Node("Resize", ["x", "", "scales"], ["y"], "r").Set("mode", "nearest");
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(3), Dim.Of(7), Dim.Of(5)]) }, new() { ["scales"] = Scales(1, 1, 2, 0.5f) });
        Assert.Equal([OpHarness.B, Dim.Of(3), Dim.Of(14), Dim.Of(2)], g.Values["y"].Shape!);
        var bad = Assert.Throws<TrtNativeException>(() => OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(3), Dim.Of(7), Dim.Of(5)]) }, new() { ["scales"] = Scales(1.5f, 1, 2, 0.5f) }));
        Assert.Equal(ErrorCode.Unsupported, bad.Code);
    }

    [Fact]
    public void OutputSizeFromScalesIsComputedInFloat()
    {
        // floor(0.7f · 10): 7 in float (ONNX Runtime), 6 in double.
        var y = Resize(OpHarness.Range(1, 1, 1, 10), n => n.Set("mode", "nearest"), Scales(1, 1, 1, 0.7f));
        Assert.Equal(new long[] { 1, 1, 1, 7 }, y.Shape);
    }

    [Fact]
    public void ResizeOpset11ReadsSizesWithEmptyScales()
    {
        var y = OpHarness.Run1("Resize", 11, n => n.Set("mode", "nearest"), new() { ["x"] = Square },
            new() { ["roi"] = OpHarness.F([], 0), ["scales"] = OpHarness.F([], 0), ["sizes"] = Sizes(1, 1, 1, 1) });
        Assert.Equal(new long[] { 1, 1, 1, 1 }, y.Shape);
    }

    [Fact]
    public void ResizeOpset10UsesAsymmetricCoordinates()
    {
        // Opset 10: asymmetric, nearest floors when upsampling: x/2 → 0,0,1,1.
        var y = OpHarness.Run1("Resize", 10, n => n.Set("mode", "nearest"), new() { ["x"] = Row(1, 2) }, new() { ["scales"] = Scales(1, 1, 1, 2) });
        Assert.Equal(new float[] { 1, 1, 2, 2 }, y.Floats);
    }

    [Fact]
    public void ResizeOpset18Axes()
    {
        var y = OpHarness.Run1("Resize", 18, n => n.Set("mode", "nearest").Set("axes", new long[] { 3 }), new() { ["x"] = Row(1, 2) },
            new() { ["scales"] = Scales(2) }, ["x", "", "scales"]);
        Assert.Equal(new long[] { 1, 1, 1, 4 }, y.Shape);
        Assert.Equal(new float[] { 1, 1, 2, 2 }, y.Floats);
    }

    // ------------------------------------------------------------ Resize cubic

    [Fact]
    public void CubicHalfPixelUpsampleByHand()
    {
        // x=0: source -0.25, neighbours -2..1 read 1,1,1,2 with W(1.75), W(0.75), W(0.25), W(1.25) for a = -0.75:
        // -0.03515625, 0.26171875, 0.87890625, -0.10546875 → 1.10546875 - 0.2109375 = 0.89453125.
        // x=3: source 1.25, neighbours 0..3 read 1,2,3,4 with W(1.25), W(0.25), W(0.75), W(1.75) → 2.296875.
        var y = Resize(Row(1, 2, 3, 4), n => n.Set("mode", "cubic"), Scales(1, 1, 1, 2));
        Assert.Equal(new long[] { 1, 1, 1, 8 }, y.Shape);
        Assert.Equal(0.89453125f, y.Floats![0], 6);
        Assert.Equal(2.296875f, y.Floats[3], 6);
        // The data is antisymmetric about 2.5 and half_pixel is symmetric, so the output is too.
        for (int i = 0; i < 4; i++) Assert.Equal(5 - y.Floats[i], y.Floats[7 - i], 5);
    }

    [Fact]
    public void CubicExcludeOutsideRenormalizesByHand()
    {
        // x=0 as above, the two neighbours left of the row dropped: (0.87890625·1 - 0.10546875·2) / 0.7734375 = 171/198.
        var y = Resize(Row(1, 2, 3, 4), n => n.Set("mode", "cubic").Set("exclude_outside", 1L), Scales(1, 1, 1, 2));
        Assert.Equal(171f / 198f, y.Floats![0], 6);
        Assert.Equal(2.296875f, y.Floats[3], 6); // all four neighbours inside: unchanged
    }

    [Fact]
    public void CubicWithAMinusHalfReproducesARampInside()
    {
        // Keys' kernel with a = -0.5 reproduces polynomials up to degree 2; away from the edges a ramp stays a ramp.
        var x = Row(Enumerable.Range(0, 10).Select(i => 3f * i - 7).ToArray());
        var y = Resize(x, n => n.Set("mode", "cubic").Set("cubic_coeff_a", -0.5f).Set("coordinate_transformation_mode", "asymmetric"), Scales(1, 1, 1, 3));
        Assert.Equal(30, y.Floats!.Length);
        for (int c = 3; c < 24; c++) Assert.Equal(3f * (c / 3f) - 7, y.Floats[c], 4);
        // With the default a = -0.75 the same point differs: the coefficient is really used.
        var d = Resize(x, n => n.Set("mode", "cubic").Set("coordinate_transformation_mode", "asymmetric"), Scales(1, 1, 1, 3));
        Assert.True(Math.Abs(d.Floats![10] - y.Floats[10]) > 1e-3, $"a = -0.75 gave {d.Floats[10]}, a = -0.5 gave {y.Floats[10]}");
    }

    [Fact]
    public void CubicTfCropAndResizeExtrapolates()
    {
        // roi [0.5, 1.5] on the last axis of a row of 4, 4 outputs: source 0.5·3 + c·(1.5 − 0.5)·3/3 = 1.5, 2.5, 3.5, 4.5;
        // beyond 3 is outside the input and gets extrapolation_value.
        var y = OpHarness.Run1("Resize", 13, n => n.Set("mode", "cubic").Set("coordinate_transformation_mode", "tf_crop_and_resize").Set("extrapolation_value", -9f),
            new() { ["x"] = Row(1, 2, 3, 4) }, new() { ["roi"] = OpHarness.F([0, 0, 0, 0.5f, 1, 1, 1, 1.5f], 8), ["sizes"] = Sizes(1, 1, 1, 4) }, ["x", "roi", "", "sizes"]);
        Assert.NotEqual(-9f, y.Floats![0]);
        Assert.NotEqual(-9f, y.Floats[1]);
        Assert.Equal(new[] { -9f, -9f }, y.Floats[2..]);
        // 1.5 lies half way: W(1.5), W(0.5), W(0.5), W(1.5) = -0.09375, 0.59375, 0.59375, -0.09375 on 1,2,3,4 → 2.5.
        Assert.Equal(2.5f, y.Floats[0], 6);
    }

    [Fact]
    public void CubicRefusedBeforeResize11AndWithAntialias()
    {
        var up = Assert.Throws<TrtNativeException>(() => OpHarness.Run1("Upsample", 9, n => n.Set("mode", "cubic"), new() { ["x"] = Square }, new() { ["s"] = Scales(1, 1, 2, 2) }));
        Assert.Equal(ErrorCode.Unsupported, up.Code);
        Assert.Contains("cubic needs Resize-11", up.Message);
        var r10 = Assert.Throws<TrtNativeException>(() => Resize(Square, n => n.Set("mode", "cubic"), Scales(1, 1, 2, 2), opset: 10));
        Assert.Contains("supported: nearest, linear (Resize-10", r10.Message);
        var aa = Assert.Throws<TrtNativeException>(() => Resize(Square, n => n.Set("mode", "cubic").Set("antialias", 1L), Scales(1, 1, 0.5f, 0.5f), opset: 18));
        Assert.Equal(ErrorCode.Unsupported, aa.Code);
        Assert.Contains("antialias", aa.Message);
        var ints = Assert.Throws<TrtNativeException>(() => Resize(OpHarness.I([1, 2, 3, 4], 1, 1, 2, 2), n => n.Set("mode", "cubic"), Scales(1, 1, 2, 2)));
        Assert.Contains("cubic resize of int64", ints.Message);
    }

    // ------------------------------------------------------------ Upsample

    [Fact]
    public void UpsampleOpset9NearestAndOpset7Linear()
    {
        var y = OpHarness.Run1("Upsample", 9, n => n.Set("mode", "nearest"), new() { ["x"] = Square }, new() { ["s"] = Scales(1, 1, 2, 3) });
        Assert.Equal(new float[] { 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4 }, y.Floats);
        var lin = OpHarness.Run1("Upsample", 7, n => n.Set("mode", "linear").Set("scales", new float[] { 1, 1, 1, 2 }), new() { ["x"] = Row(1, 2) });
        Close([1, 1.5f, 2, 2], lin.Floats!);
    }

    // ------------------------------------------------------------ Pad

    private static Tensor Pad(Tensor x, string mode, long[] pads, float? value = null, int opset = 13)
    {
        var constants = new Dictionary<string, Tensor> { ["pads"] = OpHarness.I(pads, pads.Length) };
        if (value is { } v) constants["value"] = OpHarness.F([v], []);
        return OpHarness.Run1("Pad", opset, n => n.Set("mode", mode), new() { ["x"] = x }, constants);
    }

    [Theory]
    [InlineData("constant", new float[] { 0, 0, 1, 2, 3, 4, 0, 0 })]
    [InlineData("reflect", new float[] { 3, 2, 1, 2, 3, 4, 3, 2 })]
    [InlineData("edge", new float[] { 1, 1, 1, 2, 3, 4, 4, 4 })]
    [InlineData("wrap", new float[] { 3, 4, 1, 2, 3, 4, 1, 2 })]
    public void PadModes1d(string mode, float[] expected)
    {
        var y = Pad(OpHarness.F([1, 2, 3, 4], 4), mode, [2, 2]);
        Assert.Equal(expected, y.Floats);
    }

    [Fact]
    public void PadConstantValueNegativePadsAndInts()
    {
        // [[1,2],[3,4]] padded one row on top with 9 and one column cropped on the left: [[9],[2],[4]].
        var y = Pad(OpHarness.F([1, 2, 3, 4], 2, 2), "constant", [1, -1, 0, 0], 9);
        Assert.Equal(new long[] { 3, 1 }, y.Shape);
        Assert.Equal(new float[] { 9, 2, 4 }, y.Floats);
        var ints = OpHarness.Run1("Pad", 13, null, new() { ["x"] = OpHarness.I([5, 6], 2) }, new() { ["pads"] = OpHarness.I([1, 0], 2), ["v"] = OpHarness.I([7], []) });
        Assert.Equal(new long[] { 7, 5, 6 }, ints.Ints);
    }

    [Fact]
    public void PadOpset2AttributesAndOpset18Axes()
    {
        var y = OpHarness.Run1("Pad", 2, n => n.Set("pads", new long[] { 0, 1, 0, 1 }).Set("value", 5f), new() { ["x"] = OpHarness.F([1, 2], 1, 2) });
        Assert.Equal(new float[] { 5, 1, 2, 5 }, y.Floats);
        var z = OpHarness.Run1("Pad", 18, n => n.Set("mode", "edge"), new() { ["x"] = OpHarness.F([1, 2, 3, 4], 2, 2) },
            new() { ["pads"] = OpHarness.I([1, 0], 2), ["v"] = OpHarness.F([0], []), ["axes"] = OpHarness.I([-1], 1) });
        Assert.Equal(new long[] { 2, 3 }, z.Shape);
        Assert.Equal(new float[] { 1, 1, 2, 3, 3, 4 }, z.Floats);
    }

    [Fact]
    public void PadOnSymbolicShape()
    {
        var node = new Node("Pad", ["x", "pads"], ["y"], "p");
        var (g, _) = OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(3), Dim.Of(224), Dim.Of(224)]) },
            new() { ["pads"] = OpHarness.I([0, 0, 1, 2, 0, 0, 3, 4], 8) });
        Assert.Equal([OpHarness.B, Dim.Of(3), Dim.Of(228), Dim.Of(230)], g.Values["y"].Shape!);
        var ex = Assert.Throws<TrtNativeException>(() => OpHarness.Infer(node, 13, new() { ["x"] = (DataType.Float, [OpHarness.B, Dim.Of(3)]) },
            new() { ["pads"] = OpHarness.I([1, 0, 0, 0], 4) }));
        Assert.Equal(ErrorCode.Unsupported, ex.Code);
        var bad = Assert.Throws<TrtNativeException>(() => Pad(OpHarness.F([1, 2], 2), "symmetric", [1, 1]));
        Assert.Contains("supported: constant, reflect, edge, wrap", bad.Message);
    }
}

/// <summary>
/// Resize, Pad, Slice, Gather and Cast against ONNX Runtime (CPU) on fresh random inputs: each case is a one-node
/// graph exported with our exporter; constants (scales, sizes, pads, starts) are initializers.
/// </summary>
public class ResizeOpsOrtTests
{
    private static void AgreeWithOrt(string op, int opset, Action<Node> attrs, long[] inShape, Dictionary<string, Tensor> constants, string[] order, float tol = 1e-5f)
    {
        int seed = TrtNative.Tests.Support.RandomTensors.FreshSeed();
        var x = TrtNative.Tests.Support.RandomTensors.Normal(inShape, seed);
        var node = new Node(op, order, ["y"], $"test_{op}");
        attrs(node);
        var g = OpHarness.OneNode(node, opset, new() { ["x"] = x }, constants);
        ShapeInference.Run(g);
        g.Outputs[0] = g.Values["y"];
        var ours = TrtNative.Reference.ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x })["y"];
        var ort = TrtNative.Tests.Support.OrtRunner.Run(TrtNative.Onnx.OnnxExporter.ToBytes(g), new Dictionary<string, Tensor> { ["x"] = x })["y"];
        Assert.Equal(ort.Shape, ours.Shape);
        var a = ours.ToFloats();
        var b = ort.ToFloats();
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - b[i]) <= tol, $"{op} {string.Join(" ", node.Attributes.Select(kv => $"{kv.Key}={kv.Value}"))} seed {seed}: element {i} is {a[i]}, ONNX Runtime gives {b[i]}");
    }

    public static TheoryData<string, string, string, long[]> ResizeCases()
    {
        var d = new TheoryData<string, string, string, long[]>();
        // ONNX Runtime spells tf_half_pixel_for_nearest "tf_half_pixel_for_nn"; we accept both.
        foreach (var coord in new[] { "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn" })
            foreach (var sizes in new[] { new long[] { 1, 2, 11, 16 }, new long[] { 1, 2, 3, 4 }, new long[] { 1, 2, 5, 1 } })
            {
                d.Add("linear", coord, "round_prefer_floor", sizes);
                foreach (var nearest in new[] { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" })
                    d.Add("nearest", coord, nearest, sizes);
            }
        return d;
    }

    [Theory]
    [MemberData(nameof(ResizeCases))]
    public void ResizeBySizesMatchesOnnxRuntime(string mode, string coord, string nearest, long[] sizes)
    {
        AgreeWithOrt("Resize", 13, n => n.Set("mode", mode).Set("coordinate_transformation_mode", coord).Set("nearest_mode", nearest),
            [1, 2, 5, 7], new() { ["sizes"] = OpHarness.I(sizes, 4) }, ["x", "", "", "sizes"]);
    }

    [Theory]
    [InlineData("half_pixel")]
    [InlineData("pytorch_half_pixel")]
    [InlineData("align_corners")]
    [InlineData("asymmetric")]
    [InlineData("tf_half_pixel_for_nn")]
    public void NearestPicksMatchOnnxRuntimeForEverySizePairUpTo9(string coord)
    {
        // Rounding boundaries (x.5 and whole numbers) are where float32 and exact arithmetic part ways; the input
        // values i² make every pick visible. 4 nearest modes × 81 (in, out) pairs.
        foreach (var nearest in new[] { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" })
            for (int n = 1; n <= 9; n++)
                for (int m = 1; m <= 9; m++)
                {
                    var x = OpHarness.F(Enumerable.Range(0, n).Select(i => (float)(i * i)).ToArray(), 1, n);
                    var node = new Node("Resize", ["x", "", "", "sizes"], ["y"], "r").Set("mode", "nearest").Set("coordinate_transformation_mode", coord).Set("nearest_mode", nearest);
                    var g = OpHarness.OneNode(node, 13, new() { ["x"] = x }, new() { ["sizes"] = OpHarness.I([1, m], 2) });
                    ShapeInference.Run(g);
                    g.Outputs[0] = g.Values["y"];
                    var inputs = new Dictionary<string, Tensor> { ["x"] = x };
                    var ort = TrtNative.Tests.Support.OrtRunner.Run(TrtNative.Onnx.OnnxExporter.ToBytes(g), inputs)["y"].Floats!;
                    var ours = TrtNative.Reference.ReferenceExecutor.Run(g, inputs)["y"].Floats!;
                    Assert.True(ort.SequenceEqual(ours), $"{coord} {nearest} {n}->{m}: ONNX Runtime [{string.Join(",", ort)}], ours [{string.Join(",", ours)}]");
                }
    }

    [Theory]
    [InlineData("linear", "half_pixel", 2f, 3f)]
    [InlineData("linear", "asymmetric", 0.5f, 2f)]
    [InlineData("nearest", "half_pixel", 2f, 0.5f)]
    [InlineData("nearest", "asymmetric", 3f, 1f)]
    public void ResizeByScalesMatchesOnnxRuntime(string mode, string coord, float sh, float sw)
    {
        AgreeWithOrt("Resize", 13, n => n.Set("mode", mode).Set("coordinate_transformation_mode", coord),
            [1, 2, 4, 6], new() { ["scales"] = OpHarness.F([1, 1, sh, sw], 4) }, ["x", "", "scales"]);
    }

    public static TheoryData<string, float, long, bool> CubicCases()
    {
        var d = new TheoryData<string, float, long, bool>();
        foreach (var coord in new[] { "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn" })
            foreach (var a in new[] { -0.75f, -0.5f })
                foreach (var exclude in new[] { 0L, 1L })
                    foreach (var bySizes in new[] { true, false })
                        d.Add(coord, a, exclude, bySizes);
        return d;
    }

    [Theory]
    [MemberData(nameof(CubicCases))]
    public void CubicMatchesOnnxRuntime(string coord, float a, long exclude, bool bySizes)
    {
        Action<Node> attrs = n => n.Set("mode", "cubic").Set("coordinate_transformation_mode", coord).Set("cubic_coeff_a", a).Set("exclude_outside", exclude);
        if (bySizes)
        {
            // Up on one axis, down on the other, and both ways round; 1 output column (a single source coordinate).
            foreach (var sizes in new[] { new long[] { 1, 2, 11, 4 }, new long[] { 1, 2, 3, 16 }, new long[] { 1, 2, 5, 1 } })
                AgreeWithOrt("Resize", 13, attrs, [1, 2, 5, 7], new() { ["sizes"] = OpHarness.I(sizes, 4) }, ["x", "", "", "sizes"], 1e-5f);
        }
        else
        {
            // (1.1, 1.05) keeps both sizes (6.6 → 6, 9.45 → 9): ONNX Runtime leaves such an axis as it is, as we do.
            foreach (var (sh, sw) in new[] { (2f, 3f), (0.5f, 1.5f), (0.8f, 0.7f), (1.1f, 1.05f) })
                AgreeWithOrt("Resize", 13, attrs, [1, 2, 6, 9], new() { ["scales"] = OpHarness.F([1, 1, sh, sw], 4) }, ["x", "", "scales"], 1e-5f);
        }
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    public void CubicTfCropAndResizeMatchesOnnxRuntime(long exclude)
    {
        AgreeWithOrt("Resize", 13, n => n.Set("mode", "cubic").Set("coordinate_transformation_mode", "tf_crop_and_resize").Set("extrapolation_value", 0.5f).Set("exclude_outside", exclude),
            [1, 2, 6, 7], new() { ["roi"] = OpHarness.F([0, 0, 0.2f, -0.3f, 1, 1, 0.9f, 1.2f], 8), ["sizes"] = OpHarness.I([1, 2, 5, 9], 4) }, ["x", "roi", "", "sizes"], 1e-5f);
    }

    [Fact]
    public void CubicHalfPixelSymmetricMatchesOnnxRuntime()
    {
        AgreeWithOrt("Resize", 19, n => n.Set("mode", "cubic").Set("coordinate_transformation_mode", "half_pixel_symmetric"),
            [1, 2, 6, 9], new() { ["scales"] = OpHarness.F([1, 1, 1.7f, 0.6f], 4) }, ["x", "", "scales"], 1e-5f);
    }

    /// <summary>
    /// The two align_corners downsampling node tests that ConformanceTests excuses as known-bad data: on the tests' own
    /// model and input, ONNX Runtime agrees with us and both disagree with the stored output (onnx/onnx#2462).
    /// </summary>
    [Theory]
    [InlineData("test_resize_downsample_scales_linear_align_corners")]
    [InlineData("test_resize_downsample_scales_cubic_align_corners")]
    public void AlignCornersDownsampleNodeTestsDisagreeWithOnnxRuntimeNotWithUs(string test)
    {
        var dir = Path.Combine(ConformanceTests.NodeTestRoot, test);
        Assert.True(Directory.Exists(dir), $"{dir} is missing: install the Debian package libonnx-testdata");
        var set = Path.Combine(dir, "test_data_set_0");
        var g = TrtNative.Onnx.OnnxImporter.Load(Path.Combine(dir, "model.onnx"));
        var inputs = g.Inputs.Select((v, k) => (v.Name, T: TrtNative.Onnx.OnnxTensors.ReadFile(Path.Combine(set, $"input_{k}.pb")))).ToDictionary(p => p.Name, p => p.T);
        var expected = TrtNative.Onnx.OnnxTensors.ReadFile(Path.Combine(set, "output_0.pb")).Floats!;
        var ort = TrtNative.Tests.Support.OrtRunner.Run(Path.Combine(dir, "model.onnx"), inputs)[g.Outputs[0].Name].Floats!;

        // Ours, with the scales an initializer as an engine build needs them.
        var x = g.Inputs[0].Name;
        foreach (var v in g.Inputs.Skip(1).ToList()) { g.Initializers[v.Name] = inputs[v.Name]; g.Inputs.Remove(v); }
        ShapeInference.Run(g);
        var ours = TrtNative.Reference.ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { [x] = inputs[x] })[g.Outputs[0].Name].Floats!;

        Assert.Equal(ort.Length, ours.Length);
        for (int i = 0; i < ort.Length; i++) Assert.True(Math.Abs(ort[i] - ours[i]) <= 1e-5f, $"element {i}: ours {ours[i]}, ONNX Runtime {ort[i]}");
        Assert.Equal(expected.Length, ort.Length);
        Assert.True(expected.Zip(ort).Max(p => Math.Abs(p.First - p.Second)) > 0.1f, "the stored output now agrees with ONNX Runtime: drop it from TrtNative.Conformance.KnownBadTestData");
    }

    [Fact]
    public void OutputSizeFromScalesMatchesOnnxRuntime()
    {
        // floor(0.7f · 10) is 7 in float32 (ONNX Runtime) and 6 in float64.
        AgreeWithOrt("Resize", 13, n => n.Set("mode", "linear"), [1, 1, 3, 10], new() { ["scales"] = OpHarness.F([1, 1, 1, 0.7f], 4) }, ["x", "", "scales"]);
    }

    [Theory]
    [InlineData("constant")]
    [InlineData("reflect")]
    [InlineData("edge")]
    public void PadMatchesOnnxRuntime(string mode)
    {
        AgreeWithOrt("Pad", 13, n => n.Set("mode", mode), [2, 3, 4, 5],
            new() { ["pads"] = OpHarness.I([0, 1, 2, 3, 0, 2, 1, 3], 8), ["v"] = OpHarness.F([0.5f], []) }, ["x", "pads", "v"]);
    }

    [Fact]
    public void SliceMatchesOnnxRuntime()
    {
        AgreeWithOrt("Slice", 13, _ => { }, [4, 5, 6],
            new() { ["s"] = OpHarness.I([-1, 1, 100], 3), ["e"] = OpHarness.I([long.MinValue, 5, -7], 3), ["a"] = OpHarness.I([0, 2, -2], 3), ["st"] = OpHarness.I([-2, 2, -1], 3) },
            ["x", "s", "e", "a", "st"]);
    }

    [Fact]
    public void GatherAndTransposeMatchOnnxRuntime()
    {
        AgreeWithOrt("Gather", 13, n => n.Set("axis", -2L), [3, 4, 5], new() { ["i"] = OpHarness.I([3, -1, 0, 2, 2, -4], 2, 3) }, ["x", "i"]);
        AgreeWithOrt("Transpose", 13, n => n.Set("perm", new long[] { 1, 3, 0, 2 }), [2, 3, 4, 5], new(), ["x"]);
    }

    [Fact]
    public void CastThroughBFloat16AndFloat16MatchesOnnxRuntime()
    {
        // Two casts so ONNX Runtime's output is float32 again: float → bfloat16/float16 → float.
        foreach (var via in new[] { DataType.BFloat16, DataType.Float16 })
        {
            int seed = TrtNative.Tests.Support.RandomTensors.FreshSeed();
            var x = TrtNative.Tests.Support.RandomTensors.Normal([64], seed, std: 100);
            var g = OpHarness.OneNode(new Node("Cast", ["x"], ["h"], "c1").Set("to", (long)via), 13, new() { ["x"] = x });
            g.Nodes.Add(new Node("Cast", ["h"], ["y"], "c2").Set("to", (long)DataType.Float));
            g.Outputs.Clear();
            ShapeInference.Run(g);
            g.Outputs.Add(g.Values["y"]);
            var ours = TrtNative.Reference.ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = x })["y"].Floats!;
            var ort = TrtNative.Tests.Support.OrtRunner.Run(TrtNative.Onnx.OnnxExporter.ToBytes(g), new Dictionary<string, Tensor> { ["x"] = x })["y"].Floats!;
            Assert.True(ours.SequenceEqual(ort), $"via {via.OnnxName()} seed {seed}: ours [{string.Join(",", ours.Take(8))}] vs ONNX Runtime [{string.Join(",", ort.Take(8))}]");
        }
    }
}
