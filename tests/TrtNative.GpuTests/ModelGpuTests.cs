using System.Runtime.InteropServices;
using System.Text.Json;
using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.GpuTests;

/// <summary>
/// torchvision models (random weights, opset 17, dynamic batch) exported on the GPU host by
/// scripts/export_models.py, which also runs ONNX Runtime (CPU) on fresh random inputs (a multiple of 64; the device
/// scripts make 1024). One engine per model and precision with the profile batch 1..64 runs batch 1 and 7, then every
/// input in batches of 64, and is compared with those outputs.
/// </summary>
/// <remarks>
/// The fp16 top-1 bar is "the same class as ORT on at least 63 of 64 inputs", checked as that rate over all the
/// inputs. On one set of 64 it is a coin toss for any fp16 engine where the reference's two best classes are
/// closer than fp16's rounding (random-weight ViT-B/16 on noise inputs has such near-ties on about 1 input in 300:
/// PyTorch's own fp16 misses 63/64 on a few percent of fresh sets). Each set's count is printed, next to PyTorch
/// fp16's on the same inputs (export log), and every disagreement with ORT's gap and the row's largest error.
/// </remarks>
public class ModelGpuTests
{
    private const int MaxBatch = 64;
    private readonly ITestOutputHelper _out;

    /// <summary>The benchmark models: fp16 and bf16 are fine throughout them, so protection must keep every node reduced.</summary>
    private static readonly HashSet<string> BenchmarkModels = ["resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b_16"];

    public ModelGpuTests(ITestOutputHelper output) => _out = output;

    private static string ModelsDir()
    {
        var dir = Environment.GetEnvironmentVariable("TRTN_MODELS_DIR");
        Assert.SkipWhen(string.IsNullOrEmpty(dir), "TRTN_MODELS_DIR is not set (export the models with scripts/export_models.py DIR --reference 1024)");
        return dir!;
    }

    private static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }

    private void Report(string line)
    {
        _out.WriteLine(line);
        Console.WriteLine(line);
    }

    [Theory]
    [InlineData("resnet50", Precision.Fp32)]
    [InlineData("resnet50", Precision.Fp16)]
    [InlineData("mobilenet_v2", Precision.Fp32)]
    [InlineData("mobilenet_v2", Precision.Fp16)]
    [InlineData("efficientnet_b0", Precision.Fp32)]
    [InlineData("efficientnet_b0", Precision.Fp16)]
    [InlineData("vit_b_16", Precision.Fp32)]
    [InlineData("vit_b_16", Precision.Fp16)]
    [InlineData("resnet50", Precision.Bf16)]
    [InlineData("mobilenet_v2", Precision.Bf16)]
    [InlineData("efficientnet_b0", Precision.Bf16)]
    [InlineData("vit_b_16", Precision.Bf16)]
    [InlineData("mobilenet_v3_large", Precision.Fp32)]
    [InlineData("mobilenet_v3_large", Precision.Fp16)]
    [InlineData("convnext_tiny", Precision.Fp32)]
    [InlineData("convnext_tiny", Precision.Fp16)]
    [InlineData("mobilenet_v3_large", Precision.Bf16)]
    [InlineData("convnext_tiny", Precision.Bf16)]
    public void MatchesOnnxRuntime(string model, Precision precision)
    {
        EngineGpuTests.RequireEngine();
        string dir = ModelsDir();
        string onnx = Path.Combine(dir, model + ".onnx");
        Assert.SkipUnless(File.Exists(onnx), $"{onnx} was not exported");
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, model + ".json")));
        long seed = meta.RootElement.GetProperty("seed").GetInt64();
        var x = ReadFloats(Path.Combine(dir, model + ".input.f32"));
        var ort = ReadFloats(Path.Combine(dir, model + ".ort.f32"));
        const int per = 3 * 224 * 224;
        int n = x.Length / per, classes = ort.Length / n;
        Assert.True(n >= MaxBatch && n % MaxBatch == 0, $"{model}: {n} reference inputs; expected a multiple of {MaxBatch}");
        // A reference that is constant (e.g. a zero-initialized head) would make every comparison vacuous.
        double mean = ort.Average(v => (double)v), spread = Math.Sqrt(ort.Average(v => (v - mean) * (v - mean)));
        Assert.True(spread > 1e-4, $"{model}: the ONNX Runtime logits are (nearly) constant (std {spread:E2}); the comparison would prove nothing");

        using var ctx = CudaContext.Create();
        var config = new BuilderConfig { Precision = precision, MaxWorkspaceSize = 512L << 20, OptimizationLevel = Gpu.TestOptimizationLevel };
        config.OptimizationProfiles.Add(new OptimizationProfile().Set("input", [1, 3, 224, 224], [8, 3, 224, 224], [MaxBatch, 3, 224, 224]));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var engine = new Builder(ctx).BuildFromOnnx(onnx, config);
        _out.WriteLine($"{model} {precision}: built in {sw.Elapsed.TotalSeconds:F1} s, {engine.LayerCount} layers, weights {engine.WeightBytes / 1048576.0:F1} MiB, arena {engine.ActivationBytes / 1048576.0:F1} MiB");
        // Precision protection is on (the default): it keeps the benchmark models pure fp16 (no node needs fp32 there,
        // so their speed is today's), and says which nodes it kept in fp32 for the others.
        Report($"RESULT {model} {precision}: kept in fp32: {(engine.KeptInFp32.Count == 0 ? "none" : string.Join("; ", engine.KeptInFp32))}");
        if (BenchmarkModels.Contains(model) && precision != Precision.Fp32) Assert.Empty(engine.KeptInFp32);
        using var ec = engine.CreateContext();
        double tol = precision switch { Precision.Fp32 => 1e-4, Precision.Bf16 => 2e-2, _ => 1e-2 };
        float[] RunBatch(int start, int batch)
        {
            var input = Tensor.FromFloats(x[(start * per)..((start + batch) * per)], [batch, 3, 224, 224]);
            var got = ec.Run(new Dictionary<string, Tensor> { ["input"] = input })["logits"];
            Assert.Equal(new long[] { batch, classes }, got.Shape);
            return got.Floats!;
        }
        foreach (int batch in new[] { 1, 7 })
        {
            double err = EngineGpuTests.RelL2(RunBatch(0, batch), ort[..(batch * classes)]);
            string line = $"RESULT {model} {precision} batch {batch}: rel L2 vs ORT CPU {err:E3} (tol {tol:E0}, seed {seed})";
            Report(line);
            Assert.True(err <= tol, line);
        }
        var full = new float[n * classes];
        double worstSet = 0;
        for (int start = 0; start < n; start += MaxBatch)
        {
            RunBatch(start, MaxBatch).CopyTo(full, start * classes);
            worstSet = Math.Max(worstSet, EngineGpuTests.RelL2(full[(start * classes)..((start + MaxBatch) * classes)], ort[(start * classes)..((start + MaxBatch) * classes)]));
        }
        double all = EngineGpuTests.RelL2(full, ort);
        string errLine = $"RESULT {model} {precision} batch {MaxBatch} x {n / MaxBatch}: rel L2 vs ORT CPU {all:E3}, worst set of {MaxBatch} {worstSet:E3} (tol {tol:E0}, seed {seed})";
        Report(errLine);
        Assert.True(worstSet <= tol, errLine);

        int agree = 0, shown = 0;
        var perSet = new int[n / MaxBatch];
        for (int i = 0; i < n; i++)
        {
            var ours = full.AsSpan(i * classes, classes);
            var theirs = ort.AsSpan(i * classes, classes);
            int mine = OutputComparison.ArgMax(ours), ref1 = OutputComparison.ArgMax(theirs);
            if (mine == ref1) { agree++; perSet[i / MaxBatch]++; continue; }
            if (++shown > 20) continue;
            // Say how close the call was: ORT's gap between its top class and ours, next to this row's largest error.
            float maxErr = 0;
            for (int k = 0; k < classes; k++) maxErr = Math.Max(maxErr, Math.Abs(ours[k] - theirs[k]));
            Report($"{model} {precision} input {i}: top-1 {mine} vs ORT {ref1}; ORT logits {theirs[ref1]:G6} / {theirs[mine]:G6} (gap {theirs[ref1] - theirs[mine]:G3}), " +
                   $"ours {ours[ref1]:G6} / {ours[mine]:G6}, largest logit error in the row {maxErr:G3}");
        }
        string top1 = $"RESULT {model} {precision}: top-1 agrees with ORT on {agree}/{n} inputs (bar: {MaxBatch - 1}/{MaxBatch} of them, {(MaxBatch - 1) * n / MaxBatch}); " +
                      $"sets of {MaxBatch} with at least {MaxBatch - 1}: {perSet.Count(a => a >= MaxBatch - 1)}/{perSet.Length}, worst {perSet.Min()}/{MaxBatch}";
        Report(top1);
        // bf16's budget is the issue's rel L2 (2e-2, asserted above); its top-1 is reported, not held to fp16's bar: bf16
        // keeps 8 significant bits, so logits near 1.5 are rounded to steps of 1/128, and the random-weight models'
        // near-ties (ORT gaps below 0.01) come out as exact ties or swapped (device run 4 of session 5: ViT-B/16 bf16
        // rel L2 1.3e-2, top-1 498/512, its misses ORT gaps 0.002-0.02 with logits tied in bf16).
        if (precision != Precision.Bf16) Assert.True((long)agree * MaxBatch >= (long)(MaxBatch - 1) * n, top1);
        // Batch 1 and 7 ran once each (plain launches); from the second batch of 64 on, the outputs compared above came
        // from replays of the captured CUDA graph.
        Assert.Equal(n > MaxBatch ? GraphState.Replaying : GraphState.NotCaptured, ec.GraphState);

        // Plan round trip: bit-identical bytes and bit-identical outputs.
        byte[] plan = engine.Serialize();
        using var loaded = Engine.Deserialize(ctx, plan, engine.Header.ModelHash);
        Assert.Equal(plan, loaded.Serialize());
        using var ec2 = loaded.CreateContext();
        var seven = Tensor.FromFloats(x[..(7 * per)], [7, 3, 224, 224]);
        var a = ec.Run(new Dictionary<string, Tensor> { ["input"] = seven })["logits"].Floats!;
        var b = ec2.Run(new Dictionary<string, Tensor> { ["input"] = seven })["logits"].Floats!;
        Assert.Equal(a, b);
        var c = ec.Run(new Dictionary<string, Tensor> { ["input"] = seven })["logits"].Floats!;
        Assert.Equal(GraphState.Replaying, ec.GraphState);
        Assert.Equal(a, c);
        _out.WriteLine($"{model} {precision}: plan {plan.Length / 1048576.0:F1} MiB round-trips bit-identically; graph replay matches plain launch");
    }
}

/// <summary>
/// Diagnostic (runs only with TRTN_BISECT=model): builds fp32 and fp16 engines of the optimized graph cut after
/// every few nodes and prints how far the fp16 output is from the fp32 one, to find the first layer that diverges.
/// </summary>
public class PrecisionBisectGpuTests
{
    private readonly ITestOutputHelper _out;

    public PrecisionBisectGpuTests(ITestOutputHelper output) => _out = output;

    [Fact]
    public void Fp16AgreesWithFp32AlongTheGraph()
    {
        EngineGpuTests.RequireEngine();
        var model = Environment.GetEnvironmentVariable("TRTN_BISECT");
        var dir = Environment.GetEnvironmentVariable("TRTN_MODELS_DIR");
        Assert.SkipWhen(string.IsNullOrEmpty(model) || string.IsNullOrEmpty(dir), "diagnostic: set TRTN_BISECT=model and TRTN_MODELS_DIR");
        var g = TrtNative.Passes.Optimizer.Optimize(TrtNative.Onnx.OnnxImporter.Load(Path.Combine(dir!, model + ".onnx")));
        using var ctx = CudaContext.Create();
        var builder = new Builder(ctx);
        var rng = new Random(5);
        long batch = long.TryParse(Environment.GetEnvironmentVariable("TRTN_BISECT_BATCH"), out var bb) ? bb : 1;
        var x = Tensor.FromFloats(EngineGpuTests.Rand(rng, batch * 3 * 224 * 224), [batch, 3, 224, 224]);
        var inputs = new Dictionary<string, Tensor> { ["input"] = x };
        int worst = -1;
        for (int k = 0; k < g.Nodes.Count; k++)
        {
            var cut = g.Clone();
            cut.Nodes.RemoveRange(k + 1, cut.Nodes.Count - k - 1);
            cut.Outputs.Clear();
            var name = g.Nodes[k].Outputs[0];
            cut.Outputs.Add(new ValueInfo(name, DataType.Float, null));
            var outs = new Dictionary<Precision, float[]>();
            foreach (var p in new[] { Precision.Fp32, Precision.Fp16 })
            {
                var config = new BuilderConfig { Precision = p, MaxWorkspaceSize = 256L << 20, OptimizationLevel = Gpu.TestOptimizationLevel };
                // The model tests' profile: tactics are tuned at batch 8 and used at other batch sizes.
                config.OptimizationProfiles.Add(new OptimizationProfile().Set("input", [1, 3, 224, 224], [8, 3, 224, 224], [64, 3, 224, 224]));
                using var e = builder.Build(cut, config);
                using var ec = e.CreateContext();
                outs[p] = ec.Run(inputs)[name].Floats!;
                if (k == g.Nodes.Count - 1 || k % 10 == 0)
                    Console.WriteLine($"BISECT {p} tactics: " + string.Join(" ", e.Describe().Split('\n').Where(l => l.Contains("tactic=")).Select(l => l[(l.IndexOf("tactic=") + 7)..].Split(' ')[0])));
            }
            double err = EngineGpuTests.RelL2(outs[Precision.Fp16], outs[Precision.Fp32]);
            double norm = Math.Sqrt(outs[Precision.Fp32].Sum(v => (double)v * v));
            string line = $"BISECT {model} node {k} {g.Nodes[k].Name} ({g.Nodes[k].OpType}): fp16 vs fp32 rel L2 {err:E3}, |fp32| {norm:E3}, max |fp32| {outs[Precision.Fp32].Max(v => Math.Abs(v)):E3}";
            Console.WriteLine(line);
            _out.WriteLine(line);
            if (worst < 0 && !(err < 0.05)) worst = k;
        }
        Assert.True(worst < 0, $"fp16 first diverges at node {worst}");
    }
}
