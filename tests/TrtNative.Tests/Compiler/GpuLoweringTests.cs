using TrtNative.Compiler;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;
using TrtNative.Tests.Models;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Compiler;

/// <summary>
/// The GPU lowering checked on the CPU: lower an optimized graph, run the layer program in
/// <see cref="ProgramInterpreter"/> (the shim's semantics: physical layouts, NHWC convolutions, strided copies)
/// and compare with ONNX Runtime on fresh random inputs.
/// </summary>
public class GpuLoweringTests(ITestOutputHelper output)
{
    private LayerProgram CheckModel(string model, long batch, bool fp16, double tolerance, GraphPass? first = null)
    {
        string path = TorchvisionExports.Get(model);
        var imported = OnnxImporter.Load(path);
        var graph = Optimizer.Optimize(first is null ? imported : first(imported, new PassLog()));
        var program = GpuLowering.Lower(graph, fp16);
        output.WriteLine($"{model}: {graph.Nodes.Count} nodes -> {program.Layers.Count} layers ({program.Layers.Count(l => l.Kind == global::TrtNative.Interop.LayerKind.Copy)} copies)");
        int seed = RandomTensors.FreshSeed();
        var input = RandomTensors.Normal([batch, 3, 224, 224], seed);
        var inputs = new Dictionary<string, Tensor> { [graph.Inputs[0].Name] = input };
        var want = OrtRunner.Run(path, inputs);
        var got = new ProgramInterpreter(program).Run(inputs);
        foreach (var (name, w) in want)
        {
            double err = RelativeL2.Of(got[name], w);
            output.WriteLine($"  {name}: rel L2 {err:E3} (seed {seed})");
            Assert.True(err <= tolerance, $"{model} {(fp16 ? "fp16" : "fp32")} output '{name}': rel L2 {err:E3} > {tolerance:E0} (seed {seed})");
        }
        return program;
    }

    /// <summary>The pretrained CNTK ResNet18 (opset 8): its 7x7 stride-2 stem has asymmetric pads [3,3,2,2], lowered as an explicit Pad + Conv.</summary>
    [Fact]
    public void PretrainedResNet18Fp32()
    {
        string path = PretrainedResNet18Tests.ModelPath;
        var graph = Optimizer.Optimize(OnnxImporter.Load(path));
        var program = GpuLowering.Lower(graph, false);
        Assert.Contains(program.Layers, l => l.Kind == global::TrtNative.Interop.LayerKind.Pad);
        int seed = RandomTensors.FreshSeed();
        var inputs = new Dictionary<string, Tensor> { [graph.Inputs[0].Name] = RandomTensors.Normal([1, 3, 224, 224], seed) };
        var want = OrtRunner.Run(path, inputs);
        var got = new ProgramInterpreter(program).Run(inputs);
        foreach (var (name, w) in want)
        {
            double err = RelativeL2.Of(got[name], w);
            output.WriteLine($"  {name}: rel L2 {err:E3} (seed {seed})");
            Assert.True(err <= 1e-5, $"pretrained ResNet18 output '{name}': rel L2 {err:E3} (seed {seed})");
        }
    }

    [Fact] public void MobileNetV2Fp32() => CheckModel("mobilenet_v2", 2, false, 1e-5);
    [Fact] public void EfficientNetB0Fp32() => CheckModel("efficientnet_b0", 1, false, 1e-5);
    [Fact] public void ResNet18Fp32() => CheckModel("resnet18", 1, false, 1e-5);
    [Fact] public void MobileNetV2Fp16() => CheckModel("mobilenet_v2", 1, true, 1e-2);

    /// <summary>ConvNeXt-T at batch 2 (its channels-last LayerNorms and permutes); and with its 4x4 stride-4 stem as patch rows times weights.</summary>
    [Fact]
    public void ConvNextTinyFp32()
    {
        CheckModel("convnext_tiny", 2, false, 1e-5);
        var program = CheckModel("convnext_tiny", 2, false, 1e-5, GraphPasses.PatchifyConvAsMatMul);
        Assert.Equal(21, program.Layers.Count(l => l.Kind == LayerKind.Conv));  // 18 depthwise + 3 downsampling; the stem is a GEMM
    }
    [Fact]
    public void VitB16Fp32()
    {
        var program = CheckModel("vit_b_16", 1, false, 1e-5);
        // Each encoder layer's attention is one layer reading the in-projection's output where it is.
        Assert.Equal(12, program.Layers.Count(l => l.Kind == LayerKind.Attention));
        Assert.Equal(0, program.Layers.Count(l => l.Kind == LayerKind.Softmax));
        // No copies around it: its operands are the packed in-projection's output as written (the Slices are a fixed
        // index of it, seen through free reshapes), and its output is read by no Copy.
        foreach (var att in program.Layers.Where(l => l.Kind == LayerKind.Attention))
        {
            foreach (var input in att.Inputs)
            {
                var producer = program.Layers.Single(l => l.Outputs.Contains(program.Root(input)));
                Assert.True(producer.Kind == LayerKind.Gemm, $"{att.Name} reads {producer.Kind} '{producer.Name}'");
            }
            var outputs = program.Tensors.Where(t => program.Root(t.Id) == att.Outputs[0]).Select(t => t.Id).ToHashSet();
            Assert.DoesNotContain(program.Layers, l => l.Kind == LayerKind.Copy && l.Inputs.Any(outputs.Contains));
        }

        // Without FuseAttention the same model needs more layout copies (the Q/K/V transposes and O's way back).
        var g = OnnxImporter.Load(TorchvisionExports.Get("vit_b_16"));
        foreach (var (name, pass) in Optimizer.Pipeline)
            if (name != nameof(GraphPasses.FuseAttention)) g = pass(g, new PassLog());
        var unfused = GpuLowering.Lower(g, false);
        int Copies(LayerProgram p) => p.Layers.Count(l => l.Kind == LayerKind.Copy);
        output.WriteLine($"vit_b_16: {Copies(unfused)} copies, {unfused.Layers.Count} layers without FuseAttention; {Copies(program)} copies, {program.Layers.Count} layers with it");
        Assert.True(Copies(program) < Copies(unfused), $"{Copies(program)} copies with FuseAttention, {Copies(unfused)} without");
    }

    /// <summary>
    /// ViT as torch 2.x exports nn.MultiheadAttention: Q, K and V indexed out of the packed in-projection stacked as
    /// [3, S, B, E] (unflatten, unsqueeze, transpose, squeeze, Gather), heads viewed 4-D through [S, B·H, D]. Every
    /// step is a view of the projection's memory, and the attention reads Q, K and V where the GEMM wrote them — in
    /// every encoder layer, the first included, whose projection is batch-first in memory (there the [S, B·H, D] view
    /// would need Q, K and V contiguous; SplitBeforeTranspose reads them as [S, B, H, D]). Batch 2, so that a layout
    /// mixing the batch into another axis cannot pass unseen.
    /// </summary>
    [Fact]
    public void VitB16Torch2ExportFp32()
    {
        var program = CheckModel("vit_b_16_torch2", 2, false, 1e-5);
        var attentions = program.Layers.Where(l => l.Kind == LayerKind.Attention).ToList();
        Assert.Equal(12, attentions.Count);
        int readingGemms = attentions.Count(att => att.Inputs.All(input => program.Layers.Single(l => l.Outputs.Contains(program.Root(input))).Kind == LayerKind.Gemm));
        int copies = program.Layers.Count(l => l.Kind == LayerKind.Copy);
        output.WriteLine($"{readingGemms} of 12 attention layers read their GEMM's output; {copies} copies in all");
        // The first layer's too: its heads are split before they are transposed (SplitBeforeTranspose), a view of its
        // batch-first projection.
        Assert.Equal(12, readingGemms);
        // The patch rows (PatchifyConvAsMatMul; the input's fp16 conversion with them), the class token's broadcast,
        // the residual to sequence-first, the class token's pick, the output.
        Assert.True(copies <= 5, $"{copies} copies");
    }

    /// <summary>
    /// ViT's residual connections (after the attention projection and after the MLP, 24) ride on their GEMMs, all
    /// but the first: its residual is the embedding, converted to the sequence-first layout only where the Add needs
    /// it, after the GEMM has run.
    /// </summary>
    [Fact]
    public void VitB16ResidualsAreGemmResiduals()
    {
        var graph = Optimizer.Optimize(OnnxImporter.Load(TorchvisionExports.Get("vit_b_16")));
        var program = GpuLowering.Lower(graph, fp16: true);
        output.WriteLine($"GEMMs with a residual: {ResidualGemms(program)}; Binary layers left: {string.Join(", ", program.Layers.Where(l => l.Kind == global::TrtNative.Interop.LayerKind.Binary).Select(l => l.Name))}");
        Assert.Equal(23, ResidualGemms(program));
    }

    private static (LayerProgram Program, double Error) LowerAndRun(Graph g, params (string Name, long[] Shape)[] inputs)
    {
        var r = InterpretedLowering.Run(g, fp16: false, inputs);
        return (r.Program, r.Error);
    }

    private static int ResidualGemms(LayerProgram p) =>
        p.Layers.Count(l => l.Kind == global::TrtNative.Interop.LayerKind.Gemm && l.Inputs.Length > 3 && l.Inputs[3] >= 0);

    /// <summary>ConvNeXt-T's 18 blocks end in Linear → Transpose back to NCHW → residual Add: the Add rides on the GEMM.</summary>
    [Fact]
    public void ConvNeXtTinyResidualsAreGemmResiduals()
    {
        var graph = Optimizer.Optimize(OnnxImporter.Load(TorchvisionExports.Get("convnext_tiny")));
        var program = GpuLowering.Lower(graph, fp16: true);
        output.WriteLine($"GEMMs with a residual: {ResidualGemms(program)}; Binary layers left: {string.Join(", ", program.Layers.Where(l => l.Kind == global::TrtNative.Interop.LayerKind.Binary).Select(l => l.Name))}");
        Assert.Equal(18, ResidualGemms(program));
    }

    /// <summary>
    /// EfficientNet-B0's squeeze-excitation gates before a 1×1 projection at resolutions where H·W ≥ 2K become gated
    /// weights and a batched GEMM (no gated activation written); the 7×7 and 14×14 blocks keep the multiply. The
    /// fp32 lowering still matches ONNX Runtime (<see cref="EfficientNetB0Fp32"/>).
    /// </summary>
    [Fact]
    public void EfficientNetB0GatesRideOnTheProjectionWeights()
    {
        var graph = Optimizer.Optimize(OnnxImporter.Load(TorchvisionExports.Get("efficientnet_b0")));
        var program = GpuLowering.Lower(graph, fp16: true);
        int gated = program.Layers.Count(l => l.Name.EndsWith("->weights", StringComparison.Ordinal));
        int muls = program.Layers.Count(l => l.Kind == global::TrtNative.Interop.LayerKind.Binary && !l.Name.EndsWith("->weights", StringComparison.Ordinal));
        output.WriteLine($"gates on weights: {gated}, multiplies left: {muls}");
        Assert.True(gated >= 8, $"only {gated} of EfficientNet-B0's 16 gates were moved onto the weights");
        Assert.Equal(16, gated + muls);
    }

    [Fact]
    public void ResidualAddAfterALinearBecomesTheGemmsResidual()
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(5), Dim.Of(8)]);
        var r = b.Input("r", [Dim.Sym("batch"), Dim.Of(5), Dim.Of(6)]);
        var y = b.Op("Add", b.Op("MatMul", x, b.Init("w", [8, 6])), b.Init("bias", [6]));
        var g = b.Build(b.Op("Add", r, y));

        var (program, err) = LowerAndRun(g, ("x", [3, 5, 8]), ("r", [3, 5, 6]));

        Assert.Equal(1, ResidualGemms(program));
        Assert.DoesNotContain(program.Layers, l => l.Kind == global::TrtNative.Interop.LayerKind.Binary);
        Assert.True(err <= 1e-5, $"rel L2 {err:E3}");
    }

    [Fact]
    public void AddAfterAnActivatedLinearStaysAnAdd()
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", 4, 8);
        var r = b.Input("r", 4, 6);
        var y = b.Op("Relu", b.Op("Add", b.Op("MatMul", x, b.Init("w", [8, 6])), b.Init("bias", [6])));
        var g = b.Build(b.Op("Add", y, r));

        var (program, err) = LowerAndRun(g, ("x", [4, 8]), ("r", [4, 6]));

        Assert.Equal(0, ResidualGemms(program));
        Assert.Contains(program.Layers, l => l.Kind == global::TrtNative.Interop.LayerKind.Binary);
        Assert.True(err <= 1e-5, $"rel L2 {err:E3}");
    }

    [Fact]
    public void ProductReadTwiceIsNotFused()
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", 4, 8);
        var r = b.Input("r", 4, 6);
        var y = b.Op("MatMul", x, b.Init("w", [8, 6]));
        var g = b.Build(b.Op("Add", y, r), b.Op("Sigmoid", y));

        var (program, err) = LowerAndRun(g, ("x", [4, 8]), ("r", [4, 6]));

        Assert.Equal(0, ResidualGemms(program));
        Assert.True(err <= 1e-5, $"rel L2 {err:E3}");
    }

    [Fact]
    public void TrainingModeBatchNormIsRefused()
    {
        // Y alone (no running-statistics outputs) is still the training form: it must not become the inference scale and shift.
        var b = new TrtNative.Tests.Passes.GraphBuilder(15);
        var x = b.Input("x", 2, 3, 4, 4);
        b.Node("BatchNormalization", [x, b.Init("s", [3]), b.Init("bb", [3]), b.Init("m", [3]), b.Init("v", [3], 0.5f, 2f)], ["y"], name: "bn").Set("training_mode", 1L);
        var g = b.Build("y");
        ShapeInference.Run(g);
        var e = Assert.Throws<TrtNativeException>(() => GpuLowering.Lower(g, false));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Contains("training_mode", e.Message);

        g.Nodes[0].Attributes.Remove("training_mode");
        ShapeInference.Run(g);
        Assert.NotEmpty(GpuLowering.Lower(g, false).Layers); // the inference form of the same graph lowers
    }
}
