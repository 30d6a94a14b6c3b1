using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Models;

/// <summary>
/// The C#-built zoo models (<see cref="ModelZoo"/>), written to ONNX with <see cref="OnnxExporter"/>, read back with
/// <see cref="OnnxImporter"/>, optimized, and compared with ONNX Runtime on fresh random inputs at batch 3 (and 1 and 5),
/// at opset 17 and, for MobileNetV2 and ViT, at the older opsets many published models still use.
/// </summary>
[Trait("Category", "Model")]
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
        var r = Check(g);
        var opt = r.Optimized;
        ModelCheck.AssertConvsFused(g, opt);
        Assert.Equal(0, ModelCheck.Count(opt, "Relu"));
        // Every residual Add (+ Relu) folds into the FusedConv of one of its branches.
        Assert.Equal(0, ModelCheck.Count(opt, "Add"));
        Assert.Equal(ModelCheck.Count(g, "Add"), ModelCheck.CountResidualConvs(opt));
    }

    [Fact]
    public void MobileNetV2MatchesOnnxRuntime()
    {
        var g = ModelZoo.MobileNetV2();
        var r = Check(g);
        var opt = r.Optimized;
        ModelCheck.AssertConvsFused(g, opt);
        // Relu6 (Clip 0..6) fuses as the conv's activation; depthwise convs included.
        Assert.Equal(0, ModelCheck.Count(opt, "Clip"));
        Assert.Equal(ModelCheck.Count(g, "Clip"), ModelCheck.CountFused(opt, "FusedConv", "clip"));
        Assert.True(opt.Nodes.Any(n => n.OpType == "FusedConv" && n.GetInt("group", 1) > 1), "no depthwise FusedConv after optimization");
        // Inverted-residual Adds (no activation) fold into the projection conv.
        Assert.Equal(0, ModelCheck.Count(opt, "Add"));
        Assert.Equal(ModelCheck.Count(g, "Add"), ModelCheck.CountResidualConvs(opt));
    }

    [Fact]
    public void EfficientNetMatchesOnnxRuntime()
    {
        var g = ModelZoo.EfficientNet();
        int squeezeExcitations = ModelCheck.Count(g, "GlobalAveragePool") - 1;
        // SiLU = Mul(x, Sigmoid(x)); the squeeze-excitation gate is Mul(x, Sigmoid(conv(...))) and is not one.
        int silus = g.Nodes.Count(n => n.OpType == "Mul" && g.Nodes.Any(s => s.OpType == "Sigmoid" && s.Outputs[0] == n.Inputs[1] && s.Inputs[0] == n.Inputs[0]));
        var r = Check(g);
        var opt = r.Optimized;
        ModelCheck.AssertConvsFused(g, opt);
        // Every SiLU and every gate Sigmoid follows a Conv (+BN) here, so each fuses as the conv's activation.
        Assert.Equal(silus, ModelCheck.CountFused(opt, "FusedConv", "silu"));
        Assert.Equal(squeezeExcitations, ModelCheck.CountFused(opt, "FusedConv", "sigmoid"));
        Assert.Equal(0, ModelCheck.Count(opt, "Sigmoid"));
        // The squeeze-excitation structure stays: pooling and the gating Mul.
        Assert.Equal(ModelCheck.Count(g, "GlobalAveragePool"), ModelCheck.Count(opt, "GlobalAveragePool"));
        Assert.Equal(squeezeExcitations, ModelCheck.Count(opt, "Mul"));
        Assert.Equal(0, ModelCheck.Count(opt, "Add"));
        Assert.Equal(ModelCheck.Count(g, "Add"), ModelCheck.CountResidualConvs(opt));
    }

    [Fact]
    public void ViTMatchesOnnxRuntime()
    {
        var g = ModelZoo.ViT();
        int linears = g.Nodes.Count(n => n.OpType == "MatMul" && g.Initializers.ContainsKey(n.Inputs[1]));
        var r = Check(g);
        var opt = r.Optimized;
        // Every Linear (MatMul by a weight, then Add of a 1-D bias) becomes one FusedMatMul with the bias, and so does
        // the patch embedding (PatchifyConvAsMatMul); each block's attention (per-head Transposes, MatMul, scale Mul,
        // Softmax, MatMul, Transpose of O) one Attention.
        Assert.Equal(linears + 1, ModelCheck.CountFused(opt, "FusedMatMul"));
        Assert.Equal(linears + 1, opt.Nodes.Count(n => n.OpType == "FusedMatMul" && n.HasInput(2)));
        Assert.Equal(0, ModelCheck.Count(opt, "MatMul"));
        Assert.Equal(2, ModelCheck.CountFused(opt, "Attention"));
        Assert.Equal(0, ModelCheck.Count(opt, "Softmax"));
        Assert.Equal(3, ModelCheck.Count(opt, "Transpose"));   // the patches' cut, their product back to NCHW, the tokens'
        Assert.Equal(0, ModelCheck.Count(opt, "Conv"));
        // The class-token shape chain (Shape → Slice → Concat) is a build-time value; Expand still needs the batch.
        Assert.Equal(0, ModelCheck.Count(opt, "Shape"));
        Assert.Equal(1, ModelCheck.Count(opt, "Expand"));
        Assert.Equal(ModelCheck.Count(g, "LayerNormalization"), ModelCheck.Count(opt, "LayerNormalization"));
    }

    [Fact]
    public void MobileNetV2AtOpset10MatchesOnnxRuntime()
    {
        var g = ModelZoo.MobileNetV2(opset: 10);
        var r = Check(g);
        Assert.Equal(10, r.Imported.Opset);
        ModelCheck.AssertConvsFused(g, r.Optimized);
        // Clip's bounds are attributes before opset 11; they fuse all the same.
        Assert.Equal(0, ModelCheck.Count(r.Optimized, "Clip"));
        Assert.Equal(ModelCheck.Count(g, "Clip"), ModelCheck.CountFused(r.Optimized, "FusedConv", "clip"));
        Assert.All(r.Optimized.Nodes.Where(n => n.OpType == "FusedConv" && n.GetString("activation", "") == "clip"),
            n => Assert.Equal((0f, 6f), (n.GetFloat("act_alpha", float.NaN), n.GetFloat("act_beta", float.NaN))));
    }

    [Fact]
    public void ViTAtOpset12MatchesOnnxRuntime()
    {
        var g = ModelZoo.ViT(opset: 12);
        int linears = g.Nodes.Count(n => n.OpType == "MatMul" && g.Initializers.ContainsKey(n.Inputs[1]));
        var r = Check(g);
        Assert.Equal(12, r.Imported.Opset);
        Assert.Equal(0, ModelCheck.Count(g, "LayerNormalization"));
        Assert.Equal(2 * 5, ModelCheck.Count(r.Optimized, "ReduceMean"));
        Assert.Equal(linears + 1, r.Optimized.Nodes.Count(n => n.OpType == "FusedMatMul" && n.HasInput(2)));  // + the patch embedding
        Assert.Equal(0, ModelCheck.Count(r.Optimized, "Shape"));
        // Softmax(axis -1) of the old coerce-to-2-D kind is the same over the last axis: attention fuses all the same.
        Assert.Equal(2, ModelCheck.CountFused(r.Optimized, "Attention"));
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
