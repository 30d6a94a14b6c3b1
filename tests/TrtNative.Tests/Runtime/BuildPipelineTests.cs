using TrtNative.Compiler;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.Tests.Runtime;

/// <summary>
/// The model loaded once (hash, signature, graph) and the CPU phases of a build (import, optimize, lower, plan memory)
/// with their progress events; the GPU phases (create engine, tune) are covered by the GPU tests.
/// </summary>
public class BuildPipelineTests
{
    private static float[] Rand(Random r, long n, float scale = 1f)
    {
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return a;
    }

    /// <summary>input[batch,3,16,16] → Conv+BatchNorm+Relu → GlobalAveragePool → Flatten → Gemm → Softmax.</summary>
    internal static Graph SmallNet(int seed = 7)
    {
        var r = new Random(seed);
        var g = new Graph { Name = "small" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo("input", DataType.Float, [Dim.Sym("batch"), Dim.Of(3), Dim.Of(16), Dim.Of(16)]));
        g.Initializers["w1"] = Tensor.FromFloats(Rand(r, 8 * 3 * 3 * 3, 0.5f), [8, 3, 3, 3]);
        g.Initializers["b1"] = Tensor.FromFloats(Rand(r, 8), [8]);
        g.Initializers["scale"] = Tensor.FromFloats(Enumerable.Repeat(1.5f, 8).ToArray(), [8]);
        g.Initializers["bias"] = Tensor.FromFloats(Rand(r, 8), [8]);
        g.Initializers["mean"] = Tensor.FromFloats(Rand(r, 8), [8]);
        g.Initializers["var"] = Tensor.FromFloats(Enumerable.Repeat(2f, 8).ToArray(), [8]);
        g.Initializers["wf"] = Tensor.FromFloats(Rand(r, 10 * 8), [10, 8]);
        g.Initializers["bf"] = Tensor.FromFloats(Rand(r, 10), [10]);
        g.Nodes.Add(new Node("Conv", ["input", "w1", "b1"], ["c1"], "conv1").Set("pads", new long[] { 1, 1, 1, 1 }).Set("kernel_shape", new long[] { 3, 3 }));
        g.Nodes.Add(new Node("BatchNormalization", ["c1", "scale", "bias", "mean", "var"], ["bn1"], "bn1"));
        g.Nodes.Add(new Node("Relu", ["bn1"], ["r1"], "relu1"));
        g.Nodes.Add(new Node("GlobalAveragePool", ["r1"], ["gap"], "gap"));
        g.Nodes.Add(new Node("Flatten", ["gap"], ["flat"], "flatten"));
        g.Nodes.Add(new Node("Gemm", ["flat", "wf", "bf"], ["fc"], "fc").Set("transB", 1L));
        g.Nodes.Add(new Node("Softmax", ["fc"], ["probs"], "softmax").Set("axis", 1L));
        g.Outputs.Add(new ValueInfo("probs", DataType.Float, [Dim.Sym("batch"), Dim.Of(10)]));
        return g;
    }

    private static BuildSettings Settings(Precision p = Precision.Fp16, long maxBatch = 8) =>
        new(p, 64L << 20, autotune: true, new Dictionary<string, InputShapeRange>
        {
            ["input"] = new([1, 3, 16, 16], [Math.Min(4, maxBatch), 3, 16, 16], [maxBatch, 3, 16, 16]),
        });

    private sealed class ListProgress : IProgress<BuildProgress>
    {
        public List<BuildProgress> Events { get; } = [];
        public void Report(BuildProgress value) => Events.Add(value);
    }

    [Fact]
    public void LoadingAModelOnceGivesHashSignatureAndGraph()
    {
        using var dir = new TempDir();
        string path = dir.File("small.onnx");
        OnnxExporter.Save(SmallNet(), path);

        var model = OnnxModel.Load(path);
        Assert.Equal(ModelHash.Compute(path), model.ContentHash);
        Assert.Equal(Path.GetFullPath(path), model.Path);
        var input = Assert.Single(model.Inputs); // initializers are not inputs
        Assert.Equal("input", input.Name);
        Assert.Equal(new long[] { -1, 3, 16, 16 }, input.Dims);
        Assert.Equal("probs", Assert.Single(model.Outputs).Name);
        Assert.Equal(new long[] { -1, 10 }, model.Outputs[0].Dims);
        Assert.Equal(8 * 27 + 8 * 5 + 80 + 10, model.Parameters);

        // The graph comes from the load's parse: the file is not read again, even once it is gone.
        File.Delete(path);
        var graph = model.Graph;
        Assert.Equal(7, graph.Nodes.Count);
        Assert.Same(graph, model.Graph); // imported once
        Assert.Equal(8, graph.Initializers.Count);
    }

    [Fact]
    public void ReleasedWeightsCannotBeReadAgainSilently()
    {
        using var dir = new TempDir();
        string path = dir.File("small.onnx");
        OnnxExporter.Save(SmallNet(), path);
        var model = OnnxModel.Load(path);
        string hash = model.ContentHash;
        model.ReleaseWeights();
        Assert.Equal(hash, model.ContentHash);
        Assert.Single(model.Inputs);
        var e = Assert.Throws<InvalidOperationException>(() => model.Graph);
        Assert.Contains("released", e.Message);
    }

    [Fact]
    public void AnUnreadableModelIsInvalidModel()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.onnx");
        File.WriteAllBytes(path, [0xff, 0xff, 0xff, 0x01]);
        var e = Assert.Throws<TrtNativeException>(() => OnnxModel.Load(path));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.Contains("bad.onnx", e.Message);
        Assert.Equal(ErrorCode.InvalidModel, Assert.Throws<TrtNativeException>(() => OnnxModel.Load(dir.File("missing.onnx"))).Code);
    }

    [Fact]
    public void CpuPhasesReportInOrderWithStepsOfTheTotal()
    {
        using var dir = new TempDir();
        string path = dir.File("small.onnx");
        OnnxExporter.Save(SmallNet(), path);
        var model = OnnxModel.Load(path);
        var progress = new ListProgress();

        var graph = Builder.Import(model, progress);
        var compiled = Builder.CompileOnCpu(graph, Settings(), progress);

        var phases = progress.Events.Select(e => e.Phase).ToArray();
        Assert.Equal(new[]
        {
            BuildPhase.Import, BuildPhase.Import, BuildPhase.Optimize, BuildPhase.Optimize,
            BuildPhase.Lower, BuildPhase.Lower, BuildPhase.PlanMemory, BuildPhase.PlanMemory,
        }, phases);
        // Step counts finished phases: each start reports one less than its end, and never goes back.
        Assert.Equal(new[] { 0, 1, 1, 2, 2, 3, 3, 4 }, progress.Events.Select(e => e.Step).ToArray());
        Assert.All(progress.Events, e => Assert.Equal(Enum.GetValues<BuildPhase>().Length, e.Total));
        Assert.All(progress.Events, e => Assert.False(string.IsNullOrWhiteSpace(e.Message)));
        Assert.Contains("7 nodes", progress.Events[2].Message); // optimizing 7 nodes
        Assert.Contains($"{compiled.Program.Layers.Count} layers", progress.Events[5].Message);
        Assert.Equal("[4/7] PlanMemory: " + progress.Events[7].Message, progress.Events[7].ToString());
    }

    [Fact]
    public void OptimizePhaseFoldsBatchNormAndFusesWithoutChangingItsInput()
    {
        var graph = SmallNet();
        var log = new PassLog();
        var optimized = Builder.Optimize(graph, log, null);
        Assert.Equal(7, graph.Nodes.Count); // the input graph is left alone
        Assert.DoesNotContain(optimized.Nodes, n => n.OpType == "BatchNormalization");
        Assert.DoesNotContain(optimized.Nodes, n => n.OpType == "Relu"); // fused into the convolution
        Assert.True(optimized.Nodes.Count < graph.Nodes.Count);
        Assert.NotEmpty(log.Entries);
    }

    [Theory]
    [InlineData(Precision.Fp16, true)]
    [InlineData(Precision.Fp32, false)]
    public void LowerPhaseFollowsThePrecision(Precision precision, bool fp16)
    {
        var optimized = Builder.Optimize(SmallNet(), new PassLog(), null);
        var program = Builder.Lower(optimized, precision, null);
        Assert.Equal(fp16, program.Fp16);
        Assert.NotEmpty(program.Layers);
        Assert.Contains(program.Layers, l => l.Tunable); // the convolution and the GEMM
        Assert.Equal("input", Assert.Single(program.Inputs).Name);
        Assert.Equal("probs", Assert.Single(program.Outputs).Name);
    }

    [Fact]
    public void PlanMemoryPhaseSizesActivationsForTheProfileMax()
    {
        var program = Builder.Lower(Builder.Optimize(SmallNet(), new PassLog(), null), Precision.Fp32, null);
        var small = Builder.PlanMemory(program, Settings(Precision.Fp32, maxBatch: 2), new PassLog(), null);
        var large = Builder.PlanMemory(program, Settings(Precision.Fp32, maxBatch: 32), new PassLog(), null);
        Assert.Equal(2, small.MaxBindings["batch"]);
        Assert.Equal(32, large.MaxBindings["batch"]);
        Assert.Equal(2, small.OptBindings["batch"]);
        Assert.Equal(4, large.OptBindings["batch"]);
        Assert.True(large.Memory.ArenaBytes > small.Memory.ArenaBytes, $"{large.Memory.ArenaBytes} vs {small.Memory.ArenaBytes}");
        Assert.Equal(small.Memory.WeightBytes, large.Memory.WeightBytes); // weights do not depend on the batch
        Assert.Equal(program.Tensors.Count, large.Memory.Offsets.Length);
    }

    [Fact]
    public void PlanMemoryPhaseNeedsAProfileForDynamicInputs()
    {
        var program = Builder.Lower(Builder.Optimize(SmallNet(), new PassLog(), null), Precision.Fp32, null);
        var none = new BuildSettings(Precision.Fp32, 1 << 20, true);
        var e = Assert.Throws<TrtNativeException>(() => Builder.PlanMemory(program, none, new PassLog(), null));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.Contains("add an optimization profile", e.Message);

        var other = new BuildSettings(Precision.Fp32, 1 << 20, true, new Dictionary<string, InputShapeRange> { ["x"] = new([1], [1], [1]) });
        Assert.Contains("'x', which is not an input", Assert.Throws<TrtNativeException>(() => Builder.PlanMemory(program, other, new PassLog(), null)).Message);
    }
}
