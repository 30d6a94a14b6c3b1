using TrtNative.Ir;
using TrtNative.Ops;
using Xunit;
using static TrtNative.Tests.Ops.MathOpTestUtil;

namespace TrtNative.Tests.Ops;

public class FusedOpsTests
{
    private static Node Fused(string op, int inputs, Activation act)
    {
        var n = Node(op, inputs, 1, TrtNative.Ir.Node.TrtNativeDomain);
        act.WriteTo(n);
        return n;
    }

    [Fact]
    public void FusedConvEqualsConvPlusBiasResidualActivation()
    {
        var rng = new Random(7);
        var x = F(Random(rng, 2 * 4 * 6 * 6), 2, 4, 6, 6);
        var w = F(Random(rng, 8 * 4 * 3 * 3), 8, 4, 3, 3);
        var b = F(Random(rng, 8), 8);
        var res = F(Random(rng, 2 * 8 * 3 * 3), 2, 8, 3, 3);
        var conv = Run(Node("Conv", 3).Set("strides", new long[] { 2, 2 }).Set("pads", new long[] { 1, 1, 1, 1 }), 13, [x, w, b])[0];
        var sum = Run(Node("Add", 2), 13, [conv, res])[0];
        var relu = Run(Node("Relu", 1), 13, [sum])[0];

        var f = Fused("FusedConv", 4, new Activation(ActivationKind.Relu)).Set("strides", new long[] { 2, 2 }).Set("pads", new long[] { 1, 1, 1, 1 });
        var y = Run(f, 13, [x, w, b, res])[0];
        Close(relu.Floats!, y.Floats!);
        Assert.Contains(y.Floats!, v => v == 0); // the activation did something

        // Residual without activation (MobileNetV2), and clip (ReLU6) without residual.
        var plain = Run(Fused("FusedConv", 4, Activation.None).Set("strides", new long[] { 2, 2 }).Set("pads", new long[] { 1, 1, 1, 1 }), 13, [x, w, b, res])[0];
        Close(sum.Floats!, plain.Floats!);
        var clip = Run(Fused("FusedConv", 3, new Activation(ActivationKind.Clip, 0, 0.1f)).Set("strides", new long[] { 2, 2 }).Set("pads", new long[] { 1, 1, 1, 1 }), 13, [x, w, b])[0];
        Close(conv.Floats!.Select(v => Math.Clamp(v, 0, 0.1f)).ToArray(), clip.Floats!);

        var bad = Fused("FusedConv", 4, Activation.None);
        var e = Assert.Throws<TrtNativeException>(() => Infer(bad, 13, [(DataType.Float, Shapes.Of(1, 4, 6, 6)), (DataType.Float, Shapes.Of(8, 4, 3, 3)), (DataType.Float, Shapes.Of(8)), (DataType.Float, Shapes.Of(1, 8, 6, 6))]));
        Assert.Contains("residual", e.Message);
        var unknown = Node("FusedConv", 2, 1, TrtNative.Ir.Node.TrtNativeDomain).Set("activation", "swish2");
        e = Assert.Throws<TrtNativeException>(() => Infer(unknown, 13, [(DataType.Float, Shapes.Of(1, 4, 6, 6)), (DataType.Float, Shapes.Of(8, 4, 3, 3))]));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Contains("swish2", e.Message);
    }

    [Fact]
    public void FusedGemmAndFusedMatMul()
    {
        var rng = new Random(8);
        var a = F(Random(rng, 5 * 7), 5, 7);
        var bT = F(Random(rng, 3 * 7), 3, 7);
        var c = F(Random(rng, 3), 3);
        var gemm = Run(Node("Gemm", 3).Set("transB", 1L), 13, [a, bT, c])[0];
        var fg = Run(Fused("FusedGemm", 3, new Activation(ActivationKind.Relu)).Set("transB", 1L), 13, [a, bT, c])[0];
        Close(gemm.Floats!.Select(v => Math.Max(v, 0)).ToArray(), fg.Floats!);
        // C optional even at old opsets for the fused form.
        Run(Fused("FusedGemm", 2, Activation.None).Set("transB", 1L), 9, [a, bT]);

        var x = F(Random(rng, 2 * 4 * 7), 2, 4, 7);
        var w = F(Random(rng, 7 * 3), 7, 3);
        var mm = Run(Node("MatMul", 2), 13, [x, w])[0];
        var add = Run(Node("Add", 2), 13, [mm, c])[0];
        var fm = Run(Fused("FusedMatMul", 3, new Activation(ActivationKind.Tanh)), 13, [x, w, c])[0];
        Assert.Equal(new long[] { 2, 4, 3 }, fm.Shape);
        Close(add.Floats!.Select(MathF.Tanh).ToArray(), fm.Floats!);
        var e = Assert.Throws<TrtNativeException>(() => Run(Fused("FusedMatMul", 3, Activation.None), 13, [x, w, F([1, 2], 2)]));
        Assert.Contains("Bias", e.Message);
    }
}
