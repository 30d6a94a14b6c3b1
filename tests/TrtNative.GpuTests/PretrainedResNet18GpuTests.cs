using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;
using TrtNative.Reference;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.GpuTests;

/// <summary>
/// The real pretrained ResNet18 of NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18 (a CNTK export, opset 8, BatchNorm
/// not folded, fixed batch 1, 512 features out) on the GPU in fp32 and fp16, against the fp32 CPU reference executor
/// on the unoptimized graph. That reference matches ONNX Runtime within 1e-6 on this model (PretrainedResNet18Tests in
/// TrtNative.Tests, run in CI). The model is 61 MiB, so it reaches the GPU host separately: TRTN_PRETRAINED_RESNET18.
/// </summary>
public class PretrainedResNet18GpuTests
{
    private readonly ITestOutputHelper _out;

    public PretrainedResNet18GpuTests(ITestOutputHelper output) => _out = output;

    [Theory]
    [InlineData(Precision.Fp32, 1e-4)]
    [InlineData(Precision.Fp16, 1e-2)]
    public void MatchesTheReferenceExecutor(Precision precision, double tolerance)
    {
        EngineGpuTests.RequireEngine();
        string? path = Environment.GetEnvironmentVariable("TRTN_PRETRAINED_RESNET18");
        Assert.SkipWhen(string.IsNullOrEmpty(path) || !File.Exists(path),
            "TRTN_PRETRAINED_RESNET18 does not name the ResNet18.onnx of NuGet Microsoft.ML.DnnImageFeaturizer.ResNet18");
        var graph = OnnxImporter.Load(path!);
        var input = graph.Inputs[0];
        string output = graph.Outputs[0].Name;
        long[] shape = input.Shape!.Values();

        using var ctx = CudaContext.Create();
        var config = new BuilderConfig { Precision = precision, MaxWorkspaceSize = 256L << 20, OptimizationLevel = Gpu.TestOptimizationLevel };
        using var engine = new Builder(ctx).Build(Optimizer.Optimize(graph), config);
        using var ec = engine.CreateContext();

        int seed = Random.Shared.Next();
        var random = new Random(seed);
        int agree = 0;
        const int images = 6;
        for (int k = 0; k < images; k++)
        {
            var x = Tensor.FromFloats(EngineGpuTests.Rand(random, shape.ElementCount()), shape);
            var want = ReferenceExecutor.Run(graph, new Dictionary<string, Tensor> { [input.Name] = x })[output].Floats!;
            var got = ec.Run(new Dictionary<string, Tensor> { [input.Name] = x })[output].Floats!;
            double err = EngineGpuTests.RelL2(got, want);
            string line = $"RESULT pretrained ResNet18 {precision} image {k}: rel L2 vs CPU reference {err:E3} (tol {tolerance:E0}, seed {seed})";
            _out.WriteLine(line);
            Console.WriteLine(line);
            Assert.True(err <= tolerance, line);
            if (Array.IndexOf(got, got.Max()) == Array.IndexOf(want, want.Max())) agree++;
        }
        Console.WriteLine($"RESULT pretrained ResNet18 {precision}: top feature agrees on {agree}/{images} images");
        Assert.True(agree >= images - 1, $"top feature agrees on only {agree}/{images} images");
    }
}
