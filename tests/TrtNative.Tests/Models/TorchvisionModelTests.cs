using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Models;

/// <summary>
/// torchvision architectures (random weights, eval mode, dynamic batch, opset 17) exported by
/// Models/export_torchvision.py, imported, optimized and compared with ONNX Runtime at 224×224 on fresh random
/// inputs. Without python3-torch and python3-torchvision these tests fail, naming the packages to install.
/// </summary>
[Trait("Category", "Model")]
[Trait("Category", "Slow")]
public class TorchvisionModelTests(ITestOutputHelper output)
{
    private ModelCheckResult Check(string model, long batch)
    {
        string path;
        try { path = TorchvisionExports.Get(model); }
        catch (InvalidOperationException e) { Assert.Fail($"torchvision export of {model} unavailable: {e.Message}"); throw; }
        using var ort = new OrtRunner(path);
        return ModelCheck.AgainstOrt($"torchvision {model}", () => OnnxImporter.Load(path), ort,
            new Dictionary<string, long> { ["batch"] = batch }, output);
    }

    private static void AssertResNetFused(Graph imported, Graph opt)
    {
        // torch folds BatchNorm into the conv weights when exporting in eval mode; what is left to us is
        // Conv + bias + Relu (+ residual) fusion.
        ModelCheck.AssertConvsFused(imported, opt);
        Assert.Equal(0, ModelCheck.Count(opt, "Relu"));
        Assert.Equal(0, ModelCheck.Count(opt, "Add"));
        Assert.Equal(ModelCheck.Count(imported, "Add"), ModelCheck.CountResidualConvs(opt));
    }

    [Fact]
    public void ResNet50MatchesOnnxRuntime()
    {
        var r = Check("resnet50", 1);
        AssertResNetFused(r.Imported, r.Optimized);
    }

    [Fact]
    public void ResNet18MatchesOnnxRuntime()
    {
        var r = Check("resnet18", 2);
        AssertResNetFused(r.Imported, r.Optimized);
    }

    [Fact]
    public void MobileNetV2MatchesOnnxRuntime()
    {
        var r = Check("mobilenet_v2", 2);
        var opt = r.Optimized;
        ModelCheck.AssertConvsFused(r.Imported, opt);
        Assert.Equal(0, ModelCheck.Count(opt, "Clip"));
        Assert.Equal(ModelCheck.Count(r.Imported, "Clip"), ModelCheck.CountFused(opt, "FusedConv", "clip"));
        Assert.Equal(0, ModelCheck.Count(opt, "Add"));
        Assert.Equal(ModelCheck.Count(r.Imported, "Add"), ModelCheck.CountResidualConvs(opt));
    }

    [Fact]
    public void EfficientNetB0MatchesOnnxRuntime()
    {
        var r = Check("efficientnet_b0", 1);
        var opt = r.Optimized;
        int sigmoids = ModelCheck.Count(r.Imported, "Sigmoid");
        int squeezeExcitations = ModelCheck.Count(r.Imported, "GlobalAveragePool") - 1;
        ModelCheck.AssertConvsFused(r.Imported, opt);
        // 65 Sigmoids = 49 SiLUs after convs + 16 squeeze-excitation gates after convs: all fuse.
        Assert.Equal(sigmoids - squeezeExcitations, ModelCheck.CountFused(opt, "FusedConv", "silu"));
        Assert.Equal(squeezeExcitations, ModelCheck.CountFused(opt, "FusedConv", "sigmoid"));
        Assert.Equal(0, ModelCheck.Count(opt, "Sigmoid"));
        Assert.Equal(squeezeExcitations, ModelCheck.Count(opt, "Mul"));
        Assert.Equal(0, ModelCheck.Count(opt, "Add"));
        Assert.Equal(ModelCheck.Count(r.Imported, "Add"), ModelCheck.CountResidualConvs(opt));
    }

    [Fact]
    public void MobileNetV3LargeMatchesOnnxRuntime()
    {
        var r = Check("mobilenet_v3_large", 2);
        ModelCheck.AssertConvsFused(r.Imported, r.Optimized);
        // Every HardSwish follows a convolution (or the classifier's Linear) and fuses into it.
        Assert.Equal(0, ModelCheck.Count(r.Optimized, "HardSwish"));
    }

    [Fact]
    public void ConvNeXtTinyMatchesOnnxRuntime()
    {
        var r = Check("convnext_tiny", 1);
        // No AssertConvsFused: each downsampling conv's output feeds both the next block and that block's residual
        // Add, so the Add after it is not its to fuse.
        Assert.Equal(0, ModelCheck.Count(r.Optimized, "Constant"));
        Assert.True(ModelCheck.Count(r.Optimized, "LayerNormalization") > 0, "ConvNeXt's LayerNorms should stay single nodes");
        // Every block's layer scale ([C,1,1] Mul after the Linear and the Transpose back) is folded into the Linear.
        Assert.DoesNotContain(r.Optimized.Nodes,
            n => n.OpType == "Mul" && n.Inputs.Any(i => r.Optimized.Initializers.TryGetValue(i, out var t) && t.Rank == 3));
        // Every block's exact GELU (Div, Erf, Add and two Muls as torch exports it) is one trtnative.Gelu.
        Assert.Equal(18, ModelCheck.CountFused(r.Optimized, "Gelu"));
        Assert.Equal(0, ModelCheck.Count(r.Optimized, "Erf"));
        // So the Muls left are the imported ones less 18 layer scales and 2 × 18 GELU Muls.
        Assert.Equal(ModelCheck.Count(r.Imported, "Mul") - 18 - 2 * 18, ModelCheck.Count(r.Optimized, "Mul"));
    }

    [Fact]
    public void ViTB16MatchesOnnxRuntime()
    {
        var r = Check("vit_b_16", 1);
        var opt = r.Optimized;
        var unfused = opt.Nodes.Where(n => n.OpType == "MatMul" && opt.Initializers.ContainsKey(n.Input(1))).Select(n => n.Name).ToList();
        Assert.True(unfused.Count == 0, $"MatMul by a weight left unfused: {string.Join(", ", unfused.Take(5))} ({unfused.Count})");
        // 12 layers × (packed q/k/v in-projection + 2 MLP Linears) on 3-D activations, and the patch embedding
        // (PatchifyConvAsMatMul); out_proj is a 2-D Gemm.
        Assert.Equal(37, opt.Nodes.Count(n => n.OpType == "FusedMatMul" && n.HasInput(2)));
        // Each encoder layer's attention (Q scaled by 1/8, Kᵀ, Softmax, P·V, with the transposes of the heads and of
        // O) is one trtnative.Attention; the transposes left are the two per layer into and out of seq-first order.
        Assert.Equal(12, ModelCheck.CountFused(opt, "Attention"));
        // 1/√64 from the Div on Q; batch and heads unmerged: [S, B, H, 64] read as [B, H, S, 64].
        Assert.All(opt.Nodes.Where(n => n.OpType == "Attention"), n =>
        {
            Assert.Equal(0.125f, n.GetFloat("scale", 0));
            Assert.Equal([1L, 2, 0, 3], n.GetInts("q_perm")!);
            Assert.Equal([1L, 2, 0, 3], n.GetInts("o_perm")!);
        });
        Assert.Equal(0, ModelCheck.Count(opt, "Softmax"));
        Assert.Equal(0, ModelCheck.Count(opt, "MatMul"));
        // Four per layer absorbed; the patch embedding adds two (its patches cut, its product back to NCHW).
        Assert.Equal(ModelCheck.Count(r.Imported, "Transpose") - 12 * 4 + 2, ModelCheck.Count(opt, "Transpose"));
        Assert.Equal(25, ModelCheck.Count(opt, "LayerNormalization"));
        // Each MLP's exact GELU (the Erf chain) is one trtnative.Gelu.
        Assert.Equal(12, ModelCheck.CountFused(opt, "Gelu"));
        Assert.Equal(0, ModelCheck.Count(opt, "Erf"));
        // The exporter's shape chains over the batch (Shape → Gather → Concat → Reshape/Expand) are build-time values.
        Assert.Equal(0, ModelCheck.Count(opt, "Shape"));
    }
}
