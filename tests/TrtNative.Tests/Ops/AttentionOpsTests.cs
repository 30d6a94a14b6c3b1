using TrtNative.Ir;
using Xunit;
using static TrtNative.Tests.Ops.MathOpTestUtil;

namespace TrtNative.Tests.Ops;

public class AttentionOpsTests
{
    private static Node Attention(long[] q, long[] k, long[] v, long[] o, float scale) =>
        Node("Attention", 3, 1, TrtNative.Ir.Node.TrtNativeDomain)
            .Set("q_perm", q).Set("k_perm", k).Set("v_perm", v).Set("o_perm", o).Set("scale", scale);

    private static Tensor T(Tensor x, long[] perm) => Run(Node("Transpose", 1).Set("perm", perm), 17, [x])[0];

    [Theory]
    // Rank 3, torch MHA: sources [S, BH, D], everything through [1,0,2].
    [InlineData(new long[] { 5, 6, 4 }, new long[] { 7, 6, 4 }, new long[] { 7, 6, 3 }, new long[] { 1, 0, 2 }, new long[] { 1, 0, 2 }, new long[] { 1, 0, 2 }, new long[] { 1, 0, 2 })]
    // Rank 4, HF: sources [B, S, H, D]; K given already transposed [B, H, D, S] (k_perm [0,1,3,2]); O as [B, Dv, H, Sq].
    [InlineData(new long[] { 2, 5, 3, 4 }, new long[] { 2, 3, 4, 7 }, new long[] { 2, 7, 3, 6 }, new long[] { 0, 2, 1, 3 }, new long[] { 0, 1, 3, 2 }, new long[] { 0, 2, 1, 3 }, new long[] { 0, 2, 3, 1 })]
    public void EqualsTransposeMatMulSoftmaxMatMul(long[] qShape, long[] kShape, long[] vShape, long[] qp, long[] kp, long[] vp, long[] op)
    {
        var rng = new Random(11);
        var q = F(Random(rng, qShape.ElementCount(), 2), qShape);
        var k = F(Random(rng, kShape.ElementCount(), 2), kShape);
        var v = F(Random(rng, vShape.ElementCount()), vShape);
        const float scale = 0.3f;
        int r = qShape.Length;

        var y = Run(Attention(qp, kp, vp, op, scale), 17, [q, k, v])[0];

        var swap = Enumerable.Range(0, r).Select(i => (long)(i < r - 2 ? i : 2 * r - 3 - i)).ToArray();
        var scores = Run(Node("MatMul", 2), 17, [T(q, qp), T(T(k, kp), swap)])[0];
        scores = Run(Node("Mul", 2), 17, [scores, Tensor.Scalar(scale)])[0];
        var p = Run(Node("Softmax", 1).Set("axis", -1L), 17, [scores])[0];
        var o = Run(Node("MatMul", 2), 17, [p, T(v, vp)])[0];
        var inverse = new long[r];
        for (int i = 0; i < r; i++) inverse[op[i]] = i;   // output dim o_perm[i] is O's axis i
        var want = T(o, inverse);
        Assert.Equal(want.Shape, y.Shape);
        Assert.True(RelL2(want.Floats!, y.Floats!) < 1e-6, $"rel L2 {RelL2(want.Floats!, y.Floats!):E3}");
    }

    [Fact]
    public void ShapeFunctionChecksTheViews()
    {
        (DataType, Dim[])? F32(params long[] s) => (DataType.Float, Shapes.Of(s));
        var id = new long[] { 0, 1, 2 };
        var ok = Infer(Attention(id, id, id, [2, 0, 1], 1), 17, [F32(6, 5, 4), F32(6, 7, 4), F32(6, 7, 3)]);
        Assert.Equal(Shapes.Of(5, 3, 6), ok[0].Shape);   // O [6,5,3]: dim 2 ← axis 0, dim 0 ← axis 1, dim 1 ← axis 2

        var e = Assert.Throws<TrtNativeException>(() => Infer(Attention(id, id, id, id, 1), 17, [F32(6, 5, 4), F32(6, 7, 8), F32(6, 7, 3)]));
        Assert.Contains("head size", e.Message);
        e = Assert.Throws<TrtNativeException>(() => Infer(Attention(id, id, id, id, 1), 17, [F32(6, 5, 4), F32(6, 7, 4), F32(6, 8, 3)]));
        Assert.Contains("key count", e.Message);
        e = Assert.Throws<TrtNativeException>(() => Infer(Attention(id, id, id, id, 1), 17, [F32(6, 5, 4), F32(1, 7, 4), F32(6, 7, 3)]));
        Assert.Contains("leading dims", e.Message);
        e = Assert.Throws<TrtNativeException>(() => Infer(Attention([0, 1, 1], id, id, id, 1), 17, [F32(6, 5, 4), F32(6, 7, 4), F32(6, 7, 3)]));
        Assert.Contains("q_perm", e.Message);
        e = Assert.Throws<TrtNativeException>(() => Infer(Attention([0, 1], [0, 1], [0, 1], [0, 1], 1), 17, [F32(5, 4), F32(7, 4), F32(7, 3)]));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
    }
}
