using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;
using TrtNative.Reference;
using Xunit;

namespace TrtNative.Tests;

/// <summary>Inputs that do not fit the model's declared inputs give a clear error naming the input and both shapes.</summary>
public class BadInputTests
{
    private static Graph ConvModel()
    {
        const string dir = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding";
        Assert.True(Directory.Exists(dir), "install Debian's libonnx-testdata (apt-get install libonnx-testdata)");
        return Optimizer.Optimize(OnnxImporter.Load(Path.Combine(dir, "model.onnx")));
    }

    [Fact]
    public void WrongInputRankIsAShapeMismatchNamingTheInput()
    {
        var g = ConvModel();
        var input = g.Inputs[0];
        var inputs = new Dictionary<string, Tensor> { [input.Name] = Tensor.FromFloats(new float[7 * 5], [7, 5]) };
        foreach (var other in g.Inputs.Skip(1))
            inputs[other.Name] = Tensor.Zeros(other.Type, other.Shape!.Values());
        var e = Assert.Throws<TrtNativeException>(() => ReferenceExecutor.Run(g, inputs));
        Assert.Equal(ErrorCode.ShapeMismatch, e.Code);
        Assert.Contains($"'{input.Name}'", e.Message);
        Assert.Contains("rank 4", e.Message);
        Assert.Contains("[7,5]", e.Message);
    }

    [Fact]
    public void MissingInputIsNamed()
    {
        var g = ConvModel();
        var e = Assert.Throws<TrtNativeException>(() => ReferenceExecutor.Run(g, new Dictionary<string, Tensor>()));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains($"'{g.Inputs[0].Name}'", e.Message);
    }
}
