using TrtNative.Ir;
using TrtNative.Ops;
using Xunit;
using static TrtNative.Tests.Ops.MathOpTestUtil;

namespace TrtNative.Tests.Ops;

public class ElementwiseOpsTests
{
    [Fact]
    public void BroadcastShapesFollowNumpyAndSymbols()
    {
        Assert.Equal(new long[] { 2, 3, 4 }, Broadcast.Shapes([2, 1, 4], [3, 1]));
        Assert.Throws<TrtNativeException>(() => Broadcast.Shapes([2, 3], [4]));
        var n = Dim.Sym("batch");
        var s = Broadcast.Shapes([[n, Dim.Of(1), Dim.Of(768)], [Dim.Of(197), Dim.Of(1)]], out _);
        Assert.Equal(new[] { n, Dim.Of(197), Dim.Of(768) }, s);
        Assert.Null(Broadcast.Shapes([[Dim.Of(3)], [Dim.Of(4)]], out var why));
        Assert.Contains("cannot be broadcast", why);
        Assert.Null(Broadcast.Shapes([[n], [Dim.Sym("other")]], out _));
    }

    [Fact]
    public void AddBroadcastsBothWays()
    {
        var y = Run(Node("Add", 2), 13, [F([1, 2, 3], 3, 1), F([10, 20], 1, 2)])[0];
        Assert.Equal(new long[] { 3, 2 }, y.Shape);
        Assert.Equal(new float[] { 11, 21, 12, 22, 13, 23 }, y.Floats);
    }

    [Fact]
    public void BiasOverLastDimAndChannelBroadcast()
    {
        var rng = new Random(1);
        var x = Random(rng, 2 * 3 * 4 * 5);
        var c = Random(rng, 3);
        var y = Run(Node("Mul", 2), 13, [F(x, 2, 3, 4, 5), F(c, 3, 1, 1)])[0];
        for (int i = 0; i < x.Length; i++) Assert.Equal(x[i] * c[i / 20 % 3], y.Floats![i]);
        var last = Random(rng, 5);
        var z = Run(Node("Sub", 2), 13, [F(x, 2, 3, 4, 5), F(last, 5)])[0];
        for (int i = 0; i < x.Length; i++) Assert.Equal(x[i] - last[i % 5], z.Floats![i]);
    }

    [Fact]
    public void LegacyBroadcastWithAxis()
    {
        var n = Node("Add", 2).Set("broadcast", 1L).Set("axis", 1L);
        var y = Run(n, 6, [F(new float[2 * 3 * 2], 2, 3, 2), F([1, 2, 3], 3)])[0];
        Assert.Equal(new float[] { 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3 }, y.Floats);
        var trailing = Node("Mul", 2).Set("broadcast", 1L);
        var z = Run(trailing, 6, [F([1, 2, 3, 4, 5, 6], 2, 3), F([1, 10, 100], 3)])[0];
        Assert.Equal(new float[] { 1, 20, 300, 4, 50, 600 }, z.Floats);
        var e = Assert.Throws<TrtNativeException>(() => Run(Node("Add", 2), 6, [F(new float[6], 2, 3), F([1, 2, 3], 3)]));
        Assert.Contains("broadcast=1", e.Message);
    }

    [Fact]
    public void IntegerArithmeticTruncatesAndWraps()
    {
        var y = Run(Node("Div", 2), 14, [I([7, -7, 9], 3), I([2, 2, -4], 3)])[0];
        Assert.Equal(new long[] { 3, -3, -2 }, y.Ints);
        var u8 = Run(Node("Sub", 2), 14, [Tensor.FromInts([1, 200], [2], DataType.UInt8), Tensor.FromInts([2, 100], [2], DataType.UInt8)])[0];
        Assert.Equal(new long[] { 255, 100 }, u8.Ints);
        Assert.Equal(DataType.UInt8, u8.Type);
        var m = Run(Node("Mul", 2), 14, [I([2, 3], 2), I([197], 1)])[0];
        Assert.Equal(new long[] { 394, 591 }, m.Ints);
        var e = Assert.Throws<TrtNativeException>(() => Run(Node("Div", 2), 14, [I([1], 1), I([0], 1)]));
        Assert.Contains("n0", e.Message);
        Assert.Contains("division by zero", e.Message);
    }

    [Fact]
    public void ComparisonsAndWhereOnInts()
    {
        var eq = Run(Node("Equal", 2), 13, [I([1, -1, 3], 3), I([-1], 1)])[0];
        Assert.Equal(DataType.Bool, eq.Type);
        Assert.Equal(new long[] { 0, 1, 0 }, eq.Ints);
        var w = Run(Node("Where", 3), 16, [eq, I([7, 8, 9], 3), I([0], 1)])[0];
        Assert.Equal(new long[] { 0, 8, 0 }, w.Ints);
        var gt = Run(Node("Greater", 2), 13, [F([1, 2, float.NaN], 3), F([1.5f], 1)])[0];
        Assert.Equal(new long[] { 0, 1, 0 }, gt.Ints);
        var not = Run(Node("Not", 1), 13, [gt])[0];
        Assert.Equal(new long[] { 1, 0, 1 }, not.Ints);
        var wf = Run(Node("Where", 3), 16, [B([true, false], 2, 1), F([1, 2, 3], 3), F([-1], 1)])[0];
        Assert.Equal(new long[] { 2, 3 }, wf.Shape);
        Assert.Equal(new float[] { 1, 2, 3, -1, -1, -1 }, wf.Floats);
    }

    [Fact]
    public void UnaryActivations()
    {
        var x = F([-2, -0.5f, 0, 0.5f, 3], 5);
        Assert.Equal(new float[] { 0, 0, 0, 0.5f, 3 }, Run(Node("Relu", 1), 14, [x])[0].Floats);
        Assert.Equal(new float[] { -0.2f, -0.05f, 0, 0.5f, 3 }, Run(Node("LeakyRelu", 1).Set("alpha", 0.1f), 16, [x])[0].Floats);
        Close([0.1f, 0.4f, 0.5f, 0.6f, 1f], Run(Node("HardSigmoid", 1), 6, [x])[0].Floats!);
        Close([-2 * (1 / 6f), -0.5f * (2.5f / 6), 0, 0.5f * (3.5f / 6), 3], Run(Node("HardSwish", 1), 14, [x])[0].Floats!);
        Close([0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 0.95257413f], Run(Node("Sigmoid", 1), 13, [x])[0].Floats!);
        Close([-0.99532227f, -0.52049988f, 0, 0.52049988f, 0.99997791f], Run(Node("Erf", 1), 13, [x])[0].Floats!, 1e-7f);
        Assert.Equal(new float[] { -2, -1, 0, 0, 3 }, Run(Node("Floor", 1), 13, [x])[0].Floats);
        Assert.Equal(new float[] { -2, -0f, 0, 1, 3 }, Run(Node("Ceil", 1), 13, [x])[0].Floats);
        Assert.Equal(new long[] { 2, 0, 5 }, Run(Node("Abs", 1), 13, [I([-2, 0, 5], 3)])[0].Ints);
    }

    [Fact]
    public void ErfMatchesKnownValues()
    {
        Assert.Equal(0.5204998778130465, ElementwiseOps.Erf(0.5), 12);
        Assert.Equal(0.9953222650189527, ElementwiseOps.Erf(2), 12);
        Assert.Equal(-0.9999999999984626, ElementwiseOps.Erf(-5), 12);
        Assert.Equal(0.1124629160182849, ElementwiseOps.Erf(0.1), 12);
    }

    [Fact]
    public void ClipAttributesBeforeOpset11AndInputsAfter()
    {
        var x = F([-3, -1, 0, 2, 9], 5);
        var old = Node("Clip", 1).Set("min", -1.5f).Set("max", 2f);
        Assert.Equal(new float[] { -1.5f, -1, 0, 2, 2 }, Run(old, 6, [x])[0].Floats);
        Assert.Equal(new float[] { -3, -1, 0, 2, 6 }, Run(new Node("Clip", ["in0", "", "in2"], ["out0"], "c"), 13, [x, null, F([6], [])])[0].Floats);
        Assert.Equal(new float[] { 0, 0, 0, 2, 9 }, Run(Node("Clip", 2), 12, [x, F([0], [])])[0].Floats);
        Assert.Equal(new long[] { -1, -1, 0, 2, 4 }, Run(Node("Clip", 3), 12, [I([-3, -1, 0, 2, 9], 5), I([-1], []), I([4], [])])[0].Ints);
    }

    [Fact]
    public void PReluBroadcastsSlope()
    {
        var y = Run(Node("PRelu", 2), 9, [F([-1, 2, -3, 4, -5, 6], 1, 2, 3), F([0.5f, 0.25f], 2, 1)])[0];
        Assert.Equal(new float[] { -0.5f, 2, -1.5f, 4, -1.25f, 6 }, y.Floats);
        var legacy = Run(Node("PRelu", 2), 6, [F([-1, -2, -3, -4, 5, -6], 1, 2, 3), F([0.5f, 0.25f], 2)])[0];
        Assert.Equal(new float[] { -0.5f, -1, -1.5f, -1, 5, -1.5f }, legacy.Floats);
        Assert.Throws<TrtNativeException>(() => Run(Node("PRelu", 2), 9, [F([-1, -2, -3, -4, 5, -6], 1, 2, 3), F([0.5f, 0.25f], 2)]));
    }

    [Fact]
    public void VariadicMaxMinSumMean()
    {
        var a = F([1, 5, 3], 3);
        var b = F([4, 2], 2, 1);
        var c = F([0], 1);
        Assert.Equal(new float[] { 4, 5, 4, 2, 5, 3 }, Run(Node("Max", 3), 13, [a, b, c])[0].Floats);
        Assert.Equal(new float[] { 0, 0, 0, 0, 0, 0 }, Run(Node("Min", 3), 13, [a, b, c])[0].Floats);
        Assert.Equal(new float[] { 5, 9, 7, 3, 7, 5 }, Run(Node("Sum", 3), 13, [a, b, c])[0].Floats);
        Close([5 / 3f, 3, 7 / 3f, 1, 7 / 3f, 5 / 3f], Run(Node("Mean", 3), 13, [a, b, c])[0].Floats!);
        Assert.Equal(new float[] { 1, 5, 3 }, Run(Node("Sum", 1), 13, [a])[0].Floats);
    }

    [Fact]
    public void ExpandIsBidirectionalAndSymbolicInShapeFunction()
    {
        var y = Run(Node("Expand", 2), 13, [F([1, 2, 3], 3, 1), I([2, 1, 2], 3)])[0];
        Assert.Equal(new long[] { 2, 3, 2 }, y.Shape);
        Assert.Equal(new float[] { 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3 }, y.Floats);
        var n = Dim.Sym("batch");
        var info = Infer(Node("Expand", 2), 13, [(DataType.Float, Shapes.Of(1, 1, 768)), (DataType.Int64, Shapes.Of(3))],
            [null, Tensor.FromDims([n, Dim.Of(-1 + 2), Dim.Of(768)])]);
        Assert.Equal(new[] { n, Dim.Of(1), Dim.Of(768) }, info[0].Shape);
        Assert.Throws<TrtNativeException>(() => Infer(Node("Expand", 2), 13, [(DataType.Float, Shapes.Of(3)), (DataType.Int64, Shapes.Of(1))]));
    }

    [Fact]
    public void ShapeFunctionKeepsFloat16AndRejectsMismatch()
    {
        var n = Dim.Sym("batch");
        var info = Infer(Node("Add", 2), 13, [(DataType.Float16, [n, Dim.Of(197), Dim.Of(768)]), (DataType.Float16, Shapes.Of(768))]);
        Assert.Equal(DataType.Float16, info[0].Type);
        Assert.Equal(new[] { n, Dim.Of(197), Dim.Of(768) }, info[0].Shape);
        var e = Assert.Throws<TrtNativeException>(() => Infer(Node("Add", 2), 13, [(DataType.Float, Shapes.Of(2, 3)), (DataType.Float, Shapes.Of(4))]));
        Assert.Contains("n0", e.Message);
        Assert.Contains("Add", e.Message);
    }

    [Fact]
    public void PowMixedTypes()
    {
        Assert.Equal(new float[] { 1, 8, 27 }, Run(Node("Pow", 2), 15, [F([1, 2, 3], 3), I([3], 1)])[0].Floats);
        Assert.Equal(new long[] { 1, 4, 9 }, Run(Node("Pow", 2), 15, [I([1, 2, 3], 3), F([2], 1)])[0].Ints);
    }

    [Fact]
    public void ModSignConventionsAndBitShift()
    {
        Assert.Equal(new long[] { 1, -1, 2, -2 }, Run(Node("Mod", 2), 13, [I([-5, 5, 5, -5], 4), I([3, -3, 3, -3], 4)])[0].Ints);
        Assert.Equal(new long[] { -2, 2, 2, -2 }, Run(Node("Mod", 2).Set("fmod", 1L), 13, [I([-5, 5, 5, -5], 4), I([3, -3, 3, -3], 4)])[0].Ints);
        Assert.Equal(new float[] { -1.5f, 1.5f }, Run(Node("Mod", 2).Set("fmod", 1L), 13, [F([-5.5f, 5.5f], 2), F([2, -2], 2)])[0].Floats);
        Assert.Throws<TrtNativeException>(() => Run(Node("Mod", 2), 13, [F([1], 1), F([2], 1)]));
        var u8 = Tensor.FromInts([16, 4, 1], [3], DataType.UInt8);
        Assert.Equal(new long[] { 32, 16, 0 }, Run(Node("BitShift", 2).Set("direction", "LEFT"), 11, [u8, Tensor.FromInts([1, 2, 8], [3], DataType.UInt8)])[0].Ints);
        Assert.Equal(new long[] { 8, 1, 0 }, Run(Node("BitShift", 2).Set("direction", "RIGHT"), 11, [u8, Tensor.FromInts([1, 2, 1], [3], DataType.UInt8)])[0].Ints);
    }

    [Fact]
    public void IsNaNIsInf()
    {
        var x = F([1, float.NaN, float.PositiveInfinity, float.NegativeInfinity], 4);
        Assert.Equal(new long[] { 0, 1, 0, 0 }, Run(Node("IsNaN", 1), 13, [x])[0].Ints);
        Assert.Equal(new long[] { 0, 0, 1, 1 }, Run(Node("IsInf", 1), 13, [x])[0].Ints);
        Assert.Equal(new long[] { 0, 0, 0, 1 }, Run(Node("IsInf", 1).Set("detect_positive", 0L), 13, [x])[0].Ints);
    }

    [Fact]
    public void BroadcastPlanMatchesNaiveIndexingOnRandomShapes()
    {
        var rng = new Random(21);
        for (int trial = 0; trial < 200; trial++)
        {
            int rank = rng.Next(0, 5);
            var outShape = Enumerable.Range(0, rank).Select(_ => (long)rng.Next(1, 4)).ToArray();
            long[] Operand()
            {
                int r = rng.Next(0, rank + 1);
                return outShape[(rank - r)..].Select(d => rng.Next(3) == 0 ? 1L : d).ToArray();
            }
            long[] sa = Operand(), sb = Operand();
            var a = Random(rng, sa.ElementCount());
            var b = Random(rng, sb.ElementCount());
            var y = Run(Node("Sub", 2), 13, [F(a, sa), F(b, sb)])[0];
            var want = Broadcast.Shapes(sa, sb);
            Assert.Equal(want, y.Shape);
            var strides = Broadcast.Strides(want);
            for (long i = 0; i < want.ElementCount(); i++)
            {
                long At(long[] s)
                {
                    long off = 0;
                    for (int d = 0; d < s.Length; d++)
                    {
                        int od = d + want.Length - s.Length;
                        long idx = i / strides[od] % want[od];
                        off = off * s[d] + (s[d] == 1 ? 0 : idx);
                    }
                    return off;
                }
                Assert.Equal(a[At(sa)] - b[At(sb)], y.Floats![i]);
            }
        }
    }
}
