using TrtNative.Ir;
using TrtNative.Ops;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class FuseGemmActivationTests
{
    [Fact]
    public void GemmRelu()
    {
        var b = new GraphBuilder();
        var a = b.Input("a", 16, 8);
        var y = b.Op("Gemm", [a, b.Init("w", [5, 8]), b.Init("c", [5])],
            n => n.Set("transB", 1L).Set("alpha", 0.5f).Set("beta", 0.25f), name: "fc");
        var g = b.Build(b.Op("Relu", y));

        var after = Apply(GraphPasses.FuseGemmActivation, g, out var log);

        var f = Single(after, "trtnative.FusedGemm");
        Assert.Single(after.Nodes);
        Assert.Equal((1L, 0.5f, 0.25f), (f.GetInt("transB", 0), f.GetFloat("alpha", 1), f.GetFloat("beta", 1)));
        Assert.Equal(ActivationKind.Relu, Activation.FromNode(f).Kind);
        Assert.Contains("'fc'", Assert.Single(log.Entries).Message);
        SameOutputs(g, after);
    }

    [Fact]
    public void GemmAloneIsLeftAlone()
    {
        var b = new GraphBuilder();
        var a = b.Input("a", 3, 8);
        var g = b.Build(b.Op("Gemm", a, b.Init("w", [8, 5])));

        var after = Apply(GraphPasses.FuseGemmActivation, g, out var log);

        Assert.Equal(["Gemm"], after.Nodes.Select(n => n.OpType));
        Assert.Empty(log.Entries);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void MatMulBiasActivationOnBatchedInput(bool biasFirst, bool relu)
    {
        var b = new GraphBuilder();
        var a = b.Input("a", [Dim.Sym("batch"), Dim.Of(7), Dim.Of(8)]);
        var mm = b.Op("MatMul", a, b.Init("w", [8, 6]));
        var bias = b.Init("bias", [6]);
        var sum = biasFirst ? b.Op("Add", bias, mm) : b.Op("Add", mm, bias);
        var g = b.Build(relu ? b.Op("Relu", sum) : sum);

        var after = Apply(GraphPasses.FuseGemmActivation, g);

        var f = Single(after, "trtnative.FusedMatMul");
        Assert.Single(after.Nodes);
        Assert.Equal(["a", "w", "bias"], f.Inputs);
        Assert.Equal(relu ? ActivationKind.Relu : ActivationKind.None, Activation.FromNode(f).Kind);
        SameOutputs(g, after);
    }

    [Fact]
    public void MatMulBiasWrittenWithLeadingOnesIsReshaped()
    {
        var b = new GraphBuilder();
        var a = b.Input("a", 2, 4, 8);
        var g = b.Build(b.Op("Tanh", b.Op("Add", b.Op("MatMul", a, b.Init("w", [8, 6])), b.Init("bias", [1, 1, 6]))));

        var after = Apply(GraphPasses.FuseGemmActivation, g);

        var f = Single(after, "trtnative.FusedMatMul");
        Assert.Equal([6L], after.Initializers[f.Inputs[2]].Shape);
        Assert.Equal(ActivationKind.Tanh, Activation.FromNode(f).Kind);
        SameOutputs(g, after);
    }

    [Fact]
    public void MatMulActivationWithoutBias()
    {
        var b = new GraphBuilder();
        var a = b.Input("a", 4, 8);
        var g = b.Build(b.Op("Sigmoid", b.Op("MatMul", a, b.Init("w", [8, 3]))));

        var after = Apply(GraphPasses.FuseGemmActivation, g);

        var f = Single(after, "trtnative.FusedMatMul");
        Assert.Equal(2, f.Inputs.Count);
        Assert.Equal(ActivationKind.Sigmoid, Activation.FromNode(f).Kind);
        SameOutputs(g, after);
    }

    [Fact]
    public void AddThatIsNotALastDimBiasIsNotFused()
    {
        var b = new GraphBuilder();
        var a = b.Input("a", 4, 8);
        var r = b.Input("r", 6);
        var mm1 = b.Op("MatMul", a, b.Init("w1", [8, 6]));
        var mm2 = b.Op("MatMul", a, b.Init("w2", [8, 6]));
        var g = b.Build(b.Op("Add", mm1, b.Init("k", [4, 6])), b.Op("Add", mm2, r));

        var after = Apply(GraphPasses.FuseGemmActivation, g, out var log);

        Assert.Equal(2, Count(after, "MatMul"));
        Assert.Empty(log.Entries);
        SameOutputs(g, after);
    }

    [Fact]
    public void IntermediateWithAnotherUseIsNotFused()
    {
        var b = new GraphBuilder();
        var a = b.Input("a", 16, 8);
        var mm = b.Op("MatMul", a, b.Init("w", [8, 6]));
        var sum = b.Op("Add", mm, b.Init("bias", [6]));
        var g = b.Build(b.Op("Relu", sum), sum);

        var after = Apply(GraphPasses.FuseGemmActivation, g);

        // The bias Add still fuses; the Relu cannot (its input is a graph output).
        var f = Single(after, "trtnative.FusedMatMul");
        Assert.Equal(sum, f.Outputs[0]);
        Assert.Equal(ActivationKind.None, Activation.FromNode(f).Kind);
        Assert.Equal(1, Count(after, "Relu"));
        SameOutputs(g, after);
    }

    [Fact]
    public void GeluStaysUnfused()
    {
        // GELU as exported: 0.5·x·(1 + erf(x/√2)) after a MatMul; only the bias may fuse.
        var b = new GraphBuilder();
        var a = b.Input("a", 4, 8);
        var h = b.Op("Add", b.Op("MatMul", a, b.Init("w", [8, 6])), b.Init("bias", [6]));
        var e = b.Op("Erf", b.Op("Div", h, b.Scalar("sqrt2", MathF.Sqrt(2))));
        var g = b.Build(b.Op("Mul", b.Op("Mul", h, b.Op("Add", e, b.Scalar("one", 1f))), b.Scalar("half", 0.5f)));

        var after = Apply(GraphPasses.FuseGemmActivation, g);

        Assert.Equal(1, Count(after, "Erf"));
        Assert.Equal(ActivationKind.None, Activation.FromNode(Single(after, "trtnative.FusedMatMul")).Kind);
        SameOutputs(g, after);
    }
}
