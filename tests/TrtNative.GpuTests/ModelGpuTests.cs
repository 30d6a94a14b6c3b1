using System.Runtime.InteropServices;
using System.Text.Json;
using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.GpuTests;

/// <summary>
/// torchvision models (random weights, opset 17, dynamic batch) exported on the GPU host by
/// scripts/export_models.py, which also runs ONNX Runtime (CPU) on 64 fresh random inputs. One engine per model
/// and precision with the profile batch 1..64 runs batch 1, 7 and 64 and is compared with those outputs.
/// </summary>
public class ModelGpuTests
{
    private const int MaxBatch = 64;
    private readonly ITestOutputHelper _out;

    public ModelGpuTests(ITestOutputHelper output) => _out = output;

    private static string ModelsDir()
    {
        var dir = Environment.GetEnvironmentVariable("TRTN_MODELS_DIR");
        Assert.SkipWhen(string.IsNullOrEmpty(dir), "TRTN_MODELS_DIR is not set (export the models with scripts/export_models.py DIR --reference 64)");
        return dir!;
    }

    private static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
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
        Assert.Equal(MaxBatch, n);
        // A reference that is constant (e.g. a zero-initialized head) would make every comparison vacuous.
        double mean = ort.Average(v => (double)v), spread = Math.Sqrt(ort.Average(v => (v - mean) * (v - mean)));
        Assert.True(spread > 1e-4, $"{model}: the ONNX Runtime logits are (nearly) constant (std {spread:E2}); the comparison would prove nothing");

        using var ctx = CudaContext.Create();
        var config = new BuilderConfig { Precision = precision, MaxWorkspaceSize = 512L << 20 };
        config.OptimizationProfiles.Add(new OptimizationProfile().Set("input", [1, 3, 224, 224], [8, 3, 224, 224], [MaxBatch, 3, 224, 224]));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var engine = new Builder(ctx).BuildFromOnnx(onnx, config);
        _out.WriteLine($"{model} {precision}: built in {sw.Elapsed.TotalSeconds:F1} s, {engine.LayerCount} layers, weights {engine.WeightBytes / 1048576.0:F1} MiB, arena {engine.ActivationBytes / 1048576.0:F1} MiB");
        using var ec = engine.CreateExecutionContext();
        double tol = precision == Precision.Fp32 ? 1e-4 : 1e-2;
        float[]? full = null;
        foreach (int batch in new[] { 1, 7, MaxBatch })
        {
            var input = Tensor.FromFloats(x[..(batch * per)], [batch, 3, 224, 224]);
            var got = ec.Run(new Dictionary<string, Tensor> { ["input"] = input })["logits"];
            Assert.Equal(new long[] { batch, classes }, got.Shape);
            double err = EngineGpuTests.RelL2(got.Floats!, ort[..(batch * classes)]);
            string line = $"RESULT {model} {precision} batch {batch}: rel L2 vs ORT CPU {err:E3} (tol {tol:E0}, seed {seed})";
            _out.WriteLine(line);
            Console.WriteLine(line);
            Assert.True(err <= tol, line);
            if (batch == MaxBatch) full = got.Floats!;
        }
        int agree = 0;
        for (int i = 0; i < n; i++)
        {
            var ours = full!.AsSpan(i * classes, classes);
            var theirs = ort.AsSpan(i * classes, classes);
            int mine = ArgMax(ours), ref1 = ArgMax(theirs);
            if (mine == ref1) { agree++; continue; }
            // Say how close the call was: ORT's gap between its top class and ours, next to this row's largest error.
            float maxErr = 0;
            for (int k = 0; k < classes; k++) maxErr = Math.Max(maxErr, Math.Abs(ours[k] - theirs[k]));
            string why = $"{model} {precision} input {i}: top-1 {mine} vs ORT {ref1}; ORT logits {theirs[ref1]:G6} / {theirs[mine]:G6} (gap {theirs[ref1] - theirs[mine]:G3}), " +
                         $"ours {ours[ref1]:G6} / {ours[mine]:G6}, largest logit error in the row {maxErr:G3}";
            _out.WriteLine(why);
            Console.WriteLine(why);
        }
        string top1 = $"RESULT {model} {precision}: top-1 agrees with ORT on {agree}/{n} inputs";
        _out.WriteLine(top1);
        Console.WriteLine(top1);
        Assert.True(agree >= n - 1, top1);
        Assert.Equal(GraphState.NotCaptured, ec.GraphState); // each batch was a new shape: plain launches so far

        // Plan round trip: bit-identical bytes and bit-identical outputs.
        byte[] plan = engine.Serialize();
        using var loaded = Engine.Deserialize(ctx, plan, engine.Header.ModelHash);
        Assert.Equal(plan, loaded.Serialize());
        using var ec2 = loaded.CreateExecutionContext();
        var seven = Tensor.FromFloats(x[..(7 * per)], [7, 3, 224, 224]);
        var a = ec.Run(new Dictionary<string, Tensor> { ["input"] = seven })["logits"].Floats!;
        var b = ec2.Run(new Dictionary<string, Tensor> { ["input"] = seven })["logits"].Floats!;
        Assert.Equal(a, b);
        var c = ec.Run(new Dictionary<string, Tensor> { ["input"] = seven })["logits"].Floats!;
        Assert.Equal(GraphState.Replaying, ec.GraphState);
        Assert.Equal(a, c);
        _out.WriteLine($"{model} {precision}: plan {plan.Length / 1048576.0:F1} MiB round-trips bit-identically; graph replay matches plain launch");
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
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
                var config = new BuilderConfig { Precision = p, MaxWorkspaceSize = 256L << 20 };
                // The model tests' profile: tactics are tuned at batch 8 and used at other batch sizes.
                config.OptimizationProfiles.Add(new OptimizationProfile().Set("input", [1, 3, 224, 224], [8, 3, 224, 224], [64, 3, 224, 224]));
                using var e = builder.Build(cut, config);
                using var ec = e.CreateExecutionContext();
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
