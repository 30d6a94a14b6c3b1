using TrtNative.Compiler;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;
using static TrtNative.Tests.Passes.PassCheck;

namespace TrtNative.Tests.Passes;

public class FuseGeluTests
{
    /// <summary>x = MatMul(in, w); the chain as torch exports F.gelu before opset 20, with the given variations.</summary>
    private static (GraphBuilder B, string Y) Chain(bool mulByInverse = false, bool swapped = false, bool extraReader = false)
    {
        var b = new GraphBuilder();
        var input = b.Input("in", [Dim.Sym("batch"), Dim.Of(5), Dim.Of(8)]);
        var x = b.Op("MatMul", input, b.Init("w", [8, 12], -2, 2));
        var scaled = mulByInverse ? b.Op("Mul", x, b.Scalar("inv_sqrt2", 1 / MathF.Sqrt(2))) : b.Op("Div", x, b.Scalar("sqrt2", MathF.Sqrt(2)));
        var erf = b.Op("Erf", scaled);
        var plusOne = swapped ? b.Op("Add", b.Scalar("one", 1f), erf) : b.Op("Add", erf, b.Scalar("one", 1f));
        var times = swapped ? b.Op("Mul", plusOne, x) : b.Op("Mul", x, plusOne);
        var y = swapped ? b.Op("Mul", b.Scalar("half", 0.5f), times) : b.Op("Mul", times, b.Scalar("half", 0.5f));
        if (extraReader) y = b.Op("Add", y, erf);
        return (b, y);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void ErfChainBecomesOneGeluNodeWithTheSameOutputs(bool mulByInverse, bool swapped)
    {
        var (b, y) = Chain(mulByInverse, swapped);
        var g = b.Build(y);
        var lastMul = g.Nodes[^1];

        var after = Apply(GraphPasses.FuseGelu, g, out var log);

        Assert.Equal(["MatMul", "Gelu"], after.Nodes.Select(n => n.OpType));
        var gelu = after.Nodes[1];
        Assert.Equal(Node.TrtNativeDomain, gelu.Domain);
        Assert.Equal([after.Nodes[0].Outputs[0]], gelu.Inputs);
        Assert.Equal(lastMul.Outputs[0], Assert.Single(gelu.Outputs));
        Assert.Equal(lastMul.Name, gelu.Name);
        Assert.Contains("trtnative.Gelu", Assert.Single(log.Entries).Message);
        SameOutputs(g, after);
    }

    [Fact]
    public void IntermediateReadElsewhereLeavesTheChain()
    {
        var (b, y) = Chain(extraReader: true);
        var g = b.Build(y);

        var after = Apply(GraphPasses.FuseGelu, g, out var log);

        Assert.Equal(g.Nodes.Select(n => n.OpType), after.Nodes.Select(n => n.OpType));
        Assert.Empty(log.Entries);
    }

    [Fact]
    public void WrongConstantLeavesTheChain()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 4, 6);
        var erf = b.Op("Erf", b.Op("Div", x, b.Scalar("two", 2f)));
        var g = b.Build(b.Op("Mul", b.Op("Mul", x, b.Op("Add", erf, b.Scalar("one", 1f))), b.Scalar("half", 0.5f)));

        var after = Apply(GraphPasses.FuseGelu, g);

        Assert.DoesNotContain(after.Nodes, n => n.OpType == "Gelu");
        Assert.Equal(5, after.Nodes.Count);
    }

    [Fact]
    public void GeluThatIsAGraphOutputAndAnOptimizedGraphLowerToOneGeluLayer()
    {
        var (b, y) = Chain();
        var g = b.Build(y);

        var opt = Optimizer.Optimize(g);
        Assert.Contains(opt.Nodes, n => n.OpType == "Gelu" && n.Domain == Node.TrtNativeDomain && n.Outputs[0] == y);
        var program = GpuLowering.Lower(opt, fp16: false);
        var unary = Assert.Single(program.Layers, l => l.Kind == LayerKind.Unary);
        Assert.Equal((int)UnaryOp.Gelu, BitConverter.ToInt32(unary.Params, 0));
        Assert.DoesNotContain(program.Layers, l => l.Kind == LayerKind.Binary);
    }
}
