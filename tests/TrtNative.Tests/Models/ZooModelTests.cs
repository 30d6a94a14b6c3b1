using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace TrtNative.Tests.Models;

/// <summary>
/// The C#-built zoo models (<see cref="ModelZoo"/>), written to ONNX with <see cref="OnnxExporter"/>, read back with
/// <see cref="OnnxImporter"/>, optimized, and compared with ONNX Runtime on fresh random inputs at batch 3.
/// </summary>
public class ZooModelTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, long> Batch3 = new() { [ModelZoo.Batch] = 3 };

    private ModelCheckResult Check(Graph g)
    {
        var bytes = OnnxExporter.ToBytes(g);
        using var ort = new OrtRunner(bytes);
        return ModelCheck.AgainstOrt(g.Name, () => OnnxImporter.Load(bytes), ort, Batch3, output);
    }

    [Fact]
    public void ResNetMatchesOnnxRuntime()
    {
        var g = ModelZoo.ResNet();
        int convs = ModelCheck.Count(g, "Conv"), adds = ModelCheck.Count(g, "Add");
        var r = Check(g);
        var opt = r.Optimized;
        Assert.Equal(0, ModelCheck.Count(opt, "BatchNormalization"));
        Assert.Equal(0, ModelCheck.Count(opt, "Conv"));
        Assert.Equal(convs, ModelCheck.CountFused(opt, "FusedConv"));
        Assert.Equal(0, ModelCheck.Count(opt, "Relu"));
        // Every residual Add (+ Relu) folds into the FusedConv of one of its branches.
        Assert.Equal(0, ModelCheck.Count(opt, "Add"));
        Assert.Equal(adds, ModelCheck.CountResidualConvs(opt));
    }

    [Fact]
    public void MobileNetV2MatchesOnnxRuntime()
    {
        var g = ModelZoo.MobileNetV2();
        int convs = ModelCheck.Count(g, "Conv"), clips = ModelCheck.Count(g, "Clip"), adds = ModelCheck.Count(g, "Add");
        var r = Check(g);
        var opt = r.Optimized;
        Assert.Equal(0, ModelCheck.Count(opt, "BatchNormalization"));
        Assert.Equal(0, ModelCheck.Count(opt, "Conv"));
        Assert.Equal(convs, ModelCheck.CountFused(opt, "FusedConv"));
        // Relu6 (Clip 0..6) fuses as the conv's activation; depthwise convs included.
        Assert.Equal(0, ModelCheck.Count(opt, "Clip"));
        Assert.Equal(clips, ModelCheck.CountFused(opt, "FusedConv", "clip"));
        Assert.True(opt.Nodes.Any(n => n.OpType == "FusedConv" && n.GetInt("group", 1) > 1), "no depthwise FusedConv after optimization");
        // Inverted-residual Adds (no activation) fold into the projection conv.
        Assert.Equal(0, ModelCheck.Count(opt, "Add"));
        Assert.Equal(adds, ModelCheck.CountResidualConvs(opt));
    }

    [Fact]
    public void EfficientNetMatchesOnnxRuntime()
    {
        var g = ModelZoo.EfficientNet();
        int sigmoids = ModelCheck.Count(g, "Sigmoid");
        // SiLU = Mul(x, Sigmoid(x)); the squeeze-excitation gate is Mul(x, Sigmoid(conv(...))) and is not one.
        int silus = g.Nodes.Count(n => n.OpType == "Mul" && g.Nodes.Any(s => s.OpType == "Sigmoid" && s.Outputs[0] == n.Inputs[1] && s.Inputs[0] == n.Inputs[0]));
        var r = Check(g);
        var opt = r.Optimized;
        Assert.Equal(0, ModelCheck.Count(opt, "BatchNormalization"));
        Assert.Equal(0, ModelCheck.Count(opt, "Conv"));
        // Every SiLU follows a Conv (+BN) here, so every one fuses as a silu activation.
        Assert.Equal(silus, ModelCheck.CountFused(opt, "FusedConv", "silu"));
        Assert.True(ModelCheck.Count(opt, "Sigmoid") < sigmoids, $"no Sigmoid was fused ({sigmoids} before and after)");
        // The squeeze-excitation structure itself stays: pooling and the gating Mul.
        Assert.Equal(ModelCheck.Count(g, "GlobalAveragePool"), ModelCheck.Count(opt, "GlobalAveragePool"));
        Assert.True(ModelCheck.Count(opt, "Mul") >= sigmoids - silus, "a squeeze-excitation gate Mul disappeared");
    }

    [Fact]
    public void ViTMatchesOnnxRuntime()
    {
        var g = ModelZoo.ViT();
        int linears = g.Nodes.Count(n => n.OpType == "MatMul" && g.Initializers.ContainsKey(n.Inputs[1]));
        var r = Check(g);
        var opt = r.Optimized;
        // Every Linear (MatMul by a weight, then Add of a 1-D bias) becomes one FusedMatMul with the bias.
        Assert.True(ModelCheck.CountFused(opt, "FusedMatMul") >= linears,
            $"{ModelCheck.CountFused(opt, "FusedMatMul")} FusedMatMul after optimization, the model has {linears} Linear layers");
        var unfused = opt.Nodes.Where(n => n.OpType == "MatMul" && opt.Initializers.ContainsKey(n.Input(1))).Select(n => n.Name).ToList();
        Assert.True(unfused.Count == 0, $"MatMul by a weight left unfused: {string.Join(", ", unfused)}");
        // The attention and normalization structure stays.
        Assert.Equal(ModelCheck.Count(g, "Softmax"), ModelCheck.Count(opt, "Softmax"));
        Assert.Equal(ModelCheck.Count(g, "LayerNormalization"), ModelCheck.Count(opt, "LayerNormalization"));
    }

    [Fact]
    public void ZooModelsRunAtOtherBatchSizes()
    {
        // The symbolic batch must really be symbolic: the same optimized graph runs batch 1 and 5.
        foreach (var name in ModelZoo.Names)
        {
            var g = ModelZoo.Build(name);
            var bytes = OnnxExporter.ToBytes(g);
            using var ort = new OrtRunner(bytes);
            foreach (long batch in new long[] { 1, 5 })
                ModelCheck.AgainstOrt($"{g.Name} batch {batch}", () => OnnxImporter.Load(bytes), ort,
                    new Dictionary<string, long> { [ModelZoo.Batch] = batch }, output);
        }
    }

    [Fact]
    public void ZooModelsAreValidOnnxWithASymbolicBatch()
    {
        foreach (var name in ModelZoo.Names)
        {
            var g = ModelZoo.Build(name);
            var bytes = OnnxExporter.ToBytes(g);
            using var ort = new OrtRunner(bytes);
            var inputs = RandomTensors.ForInputs(g, new Dictionary<string, long> { [ModelZoo.Batch] = 2 }, 7);
            var logits = ort.Run(inputs)["logits"];
            Assert.Equal(new long[] { 2, 10 }, logits.Shape);
            // Random weights must still give O(1) logits that depend on the input: a zoo model whose activations
            // vanished or exploded would make every comparison meaningless.
            double norm = RelativeL2.Norm(logits.Floats!) / Math.Sqrt(logits.Length);
            output.WriteLine($"{name}: RMS logit {norm:G3}");
            Assert.InRange(norm, 0.05, 100);
            var row0 = logits.Floats!.AsSpan(0, 10).ToArray();
            var row1 = logits.Floats!.AsSpan(10, 10).ToArray();
            Assert.True(RelativeL2.Of(row0, row1) > 1e-3, $"{name}: logits barely depend on the input");
        }
    }
}
