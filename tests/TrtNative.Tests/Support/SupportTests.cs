using TrtNative.Ir;
using TrtNative.Onnx;
using Xunit;

namespace TrtNative.Tests.Support;

public class SupportTests
{
    [Fact]
    public void RelativeL2MeasuresAgainstTheExpectedNorm()
    {
        Assert.Equal(0.0, RelativeL2.Of([1f, 2f, 2f], [1f, 2f, 2f]));
        Assert.Equal(0.1, RelativeL2.Of([3f, 0.3f, 0f], [3f, 0f, 0f]), 6);
        Assert.Equal(0.5, RelativeL2.Of([0.5f], [0f]));                  // all-zero reference: absolute norm
        Assert.True(double.IsNaN(RelativeL2.Of([float.NaN], [1f])));   // NaN never passes a ≤ check
        Assert.True(double.IsNaN(RelativeL2.Of([1f], [float.PositiveInfinity])));
        Assert.Throws<ArgumentException>(() => RelativeL2.Of([1f], [1f, 2f]));
        var a = Tensor.FromFloats([1f, 2f], [2]);
        var b = Tensor.FromFloats([1f, 2f], [1, 2]);
        Assert.Throws<ArgumentException>(() => RelativeL2.Of(a, b));
    }

    [Fact]
    public void RandomTensorsAreReproducibleBySeedAndRoughlyStandardNormal()
    {
        var x = RandomTensors.Normal([100_000], 42);
        Assert.Equal(x.Floats, RandomTensors.Normal([100_000], 42).Floats);
        Assert.NotEqual(x.Floats, RandomTensors.Normal([100_000], 43).Floats);
        double mean = x.Floats!.Average(v => (double)v);
        double variance = x.Floats!.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, -0.02, 0.02);
        Assert.InRange(variance, 0.97, 1.03);
        var u = RandomTensors.Uniform([1000], 1, -2f, 3f);
        Assert.All(u.Floats!, v => Assert.InRange(v, -2f, 3f));
    }

    [Fact]
    public void OrtRunnerRunsAModelBuiltInCSharp()
    {
        // y = Relu(x) + 1 over a symbolic batch.
        var g = new Graph { Name = "tiny" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [Dim.Sym("batch"), Dim.Of(3)]));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, [Dim.Sym("batch"), Dim.Of(3)]));
        g.Initializers["one"] = Tensor.Scalar(1f);
        g.Nodes.Add(new Node("Relu", ["x"], ["r"], "relu"));
        g.Nodes.Add(new Node("Add", ["r", "one"], ["y"], "add"));
        var inputs = RandomTensors.ForInputs(g, new Dictionary<string, long> { ["batch"] = 2 }, 5);
        var y = OrtRunner.Run(OnnxExporter.ToBytes(g), inputs)["y"];
        Assert.Equal(new long[] { 2, 3 }, y.Shape);
        var x = inputs["x"].Floats!;
        for (int i = 0; i < 6; i++) Assert.Equal(MathF.Max(x[i], 0) + 1, y.Floats![i]);
    }
}
