using System.Reflection;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Runtime;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Models;

/// <summary>
/// The pretrained ResNet18 of NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18: a CNTK export at opset 8 with
/// unfolded BatchNorm, output the 512 pooled features [1,512,1,1]. Compared with ONNX Runtime on fresh random
/// images, by relative L2 error and by arg-max (top-1) agreement of the features.
/// </summary>
[Trait("Category", "Model")]
public class PretrainedResNet18Tests(ITestOutputHelper output)
{
    /// <summary>The model file, from the test assembly's "ResNet18Path" metadata (set by the .csproj).</summary>
    public static string ModelPath =>
        typeof(PretrainedResNet18Tests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == "ResNet18Path")?.Value
        ?? throw new InvalidOperationException("the test assembly has no ResNet18Path metadata (see TrtNative.Tests.csproj)");

    // Images as the featurizer's preprocessing gives them: 0..255 pixels minus the ImageNet channel means.
    private static Dictionary<string, Tensor> Images(Graph g, int seed)
    {
        var input = g.Inputs.Single();
        var shape = input.Shape!.Values();
        var rng = new Random(seed);
        var data = RandomTensors.UniformFloats(rng, shape.ElementCount(), 0, 255);
        float[] means = [123.68f, 116.78f, 103.94f];
        long plane = shape[2] * shape[3];
        for (long i = 0; i < data.Length; i++) data[i] -= means[i / plane % 3];
        return new() { [input.Name] = Tensor.FromFloats(data, shape) };
    }

    [Fact]
    public void MatchesOnnxRuntimeAndAgreesOnTop1()
    {
        var path = ModelPath;
        Assert.True(File.Exists(path), $"ResNet18 model not found at {path}: restore the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18");
        using var ort = new OrtRunner(path);

        const int images = 3;
        int agree = 0;
        Graph? imported = null, optimized = null;
        for (int k = 0; k < images; k++)
        {
            var r = ModelCheck.AgainstOrt("pretrained ResNet18", () => imported ??= OnnxImporter.Load(path), ort,
                new Dictionary<string, long>(), output, Images);
            optimized ??= r.Optimized;
            var name = r.Imported.Outputs[0].Name;
            int ours = OutputComparison.ArgMax(r.Ours[name].Floats!), theirs = OutputComparison.ArgMax(r.Reference[name].Floats!);
            output.WriteLine($"  top-1 feature: ours {ours}, ORT {theirs}");
            if (ours == theirs) agree++;
        }
        Assert.Equal(images, agree);

        Assert.Equal(8, imported!.Opset);
        Assert.Equal(22, ModelCheck.Count(imported, "BatchNormalization"));
        ModelCheck.AssertConvsFused(imported, optimized!);
        Assert.Equal(0, ModelCheck.Count(optimized!, "Add"));
        Assert.Equal(0, ModelCheck.Count(optimized!, "Relu"));
        Assert.Equal(ModelCheck.Count(imported, "Add"), ModelCheck.CountResidualConvs(optimized!));
    }
}
