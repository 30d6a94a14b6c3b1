using TrtNative.Compiler;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Passes;
using TrtNative.Reference;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Compiler;

/// <summary>Lowering errors, the plan payload round trip and the memory plan, on small graphs (no GPU needed).</summary>
public class LayerProgramTests
{
    private static float[] Rand(Random r, long n) { var a = new float[n]; for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1); return a; }

    /// <summary>x[batch,4,8,8] → Conv 3x3 (pads 1) → Relu → Transpose(0,2,3,1) → Reshape[batch,64,6] → Softmax(-1) → ReduceMean(1, keepdims 0).</summary>
    private static Graph Net(int seed, long[]? pads = null)
    {
        var r = new Random(seed);
        var g = new Graph { Name = "t" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [Dim.Sym("batch"), Dim.Of(4), Dim.Of(8), Dim.Of(8)]));
        g.Initializers["w"] = Tensor.FromFloats(Rand(r, 6 * 4 * 9), [6, 4, 3, 3]);
        g.Initializers["b"] = Tensor.FromFloats(Rand(r, 6), [6]);
        g.Initializers["shape"] = Tensor.FromInts([0, 64, 6], [3]);
        g.Nodes.Add(new Node("Conv", ["x", "w", "b"], ["c"], "conv").Set("pads", pads ?? new long[] { 1, 1, 1, 1 }));
        g.Nodes.Add(new Node("Relu", ["c"], ["r"], "relu"));
        g.Nodes.Add(new Node("Transpose", ["r"], ["t"], "transpose").Set("perm", new long[] { 0, 2, 3, 1 }));
        g.Nodes.Add(new Node("Reshape", ["t", "shape"], ["s"], "reshape"));
        g.Nodes.Add(new Node("Softmax", ["s"], ["p"], "softmax").Set("axis", -1L));
        g.Nodes.Add(new Node("ReduceMean", ["p"], ["m"], "mean").Set("axes", new long[] { 1 }).Set("keepdims", 0L));
        g.Outputs.Add(new ValueInfo("m", DataType.Float, null));
        return g;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LoweredSmallNetMatchesTheReferenceExecutor(bool fp16)
    {
        int seed = RandomTensors.FreshSeed();
        var g = Optimizer.Optimize(Net(seed));
        var program = GpuLowering.Lower(g, fp16);
        var x = Tensor.FromFloats(Rand(new Random(seed), 3 * 4 * 8 * 8), [3, 4, 8, 8]);
        var inputs = new Dictionary<string, Tensor> { ["x"] = x };
        var want = ReferenceExecutor.Run(g, inputs, new ReferenceOptions { RoundToFp16 = fp16 })["m"];
        var got = new ProgramInterpreter(program).Run(inputs)["m"];
        Assert.Equal(want.Shape, got.Shape);
        double err = RelativeL2.Of(got, want);
        Assert.True(err <= (fp16 ? 5e-3 : 1e-6), $"rel L2 {err:E3} (seed {seed})\n{program.Dump()}");
        // The NHWC conv output is consumed through a free Transpose: one layout copy (input → NHWC, with fp16 the
        // conversion in the same copy) and the output's.
        Assert.Equal(2, program.Layers.Count(l => l.Kind == LayerKind.Copy));
    }

    [Fact]
    public void PayloadRoundTripsByteForByte()
    {
        var program = GpuLowering.Lower(Optimizer.Optimize(Net(3)), fp16: true);
        program.Layers.First(l => l.Tunable).Tactic = 1000;
        program.Layers.First(l => l.Tunable).ShapeTactics = [new(6 * 64, 1000), new(3 * 6 * 64, -1)];
        byte[] Bytes(LayerProgram p)
        {
            using var ms = new MemoryStream();
            using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) p.Write(w);
            return ms.ToArray();
        }
        var a = Bytes(program);
        var back = LayerProgram.Read(new BinaryReader(new MemoryStream(a)));
        Assert.Equal(a, Bytes(back));
        Assert.Equal(1000, back.Layers.First(l => l.Tunable).Tactic);
        Assert.Equal(1000, BitConverter.ToInt32(back.Layers.First(l => l.Tunable).ParamsWithTactic(), 48));
        Assert.Equal([new ShapeTactic(6 * 64, 1000), new ShapeTactic(3 * 6 * 64, -1)], back.Layers.First(l => l.Tunable).ShapeTactics);
        Assert.Contains("by output size 384:1000 1152:-1", back.Dump());
    }

    [Fact]
    public void ADamagedPayloadIsACorruptPlanWhateverTheDamage()
    {
        // Every plan is decoded by ReadPayload (inspect --engine without a GPU). A damaged payload behind a matching
        // checksum must still end in CorruptPlan, not in whichever exception the damaged bytes cause (they caused
        // OverflowException and OutOfMemoryException). Four bytes at every offset in turn are overwritten with values
        // that break counts and sizes.
        var program = GpuLowering.Lower(Optimizer.Optimize(Net(3)), fp16: true);
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            program.Write(w);
            // The profile that follows the program in a plan's payload: one input, rank-4 min/opt/max.
            w.Write(1);
            w.Write("input");
            for (int k = 0; k < 3; k++) { w.Write(4); foreach (long d in new long[] { 1, 3, 8, 8 }) w.Write(d); }
        }
        byte[] good = ms.ToArray();
        int corrupt = 0;
        foreach (int value in new[] { -1, int.MaxValue, int.MinValue, 0x40000000 })
            for (int at = 8; at + 4 <= good.Length; at++)
            {
                var bytes = (byte[])good.Clone();
                BitConverter.TryWriteBytes(bytes.AsSpan(at, 4), value);
                try { global::TrtNative.Runtime.Engine.ReadPayload(bytes); }
                catch (TrtNativeException e) when (e.Code is ErrorCode.CorruptPlan or ErrorCode.StalePlan) { corrupt++; }
            }
        Assert.True(corrupt > 0, "no damage was detected at all");
    }

    [Fact]
    public void PayloadKeepsTheNodesKeptInFp32AndRefusesAnOlderVersion()
    {
        var g = Optimizer.Optimize(Net(4));
        var node = g.Nodes[0].Name;
        var program = GpuLowering.Lower(g, new LoweringOptions { Fp16 = true, KeepFp32 = new Dictionary<string, string> { [node] = "why: ünïcode reason" } });
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) program.Write(w);
        var bytes = ms.ToArray();
        var back = LayerProgram.Read(new BinaryReader(new MemoryStream(bytes)));
        var kept = Assert.Single(back.KeptFp32);
        Assert.Equal(new global::TrtNative.Runtime.PrecisionChoice(node, g.Nodes[0].QualifiedOp, "why: ünïcode reason"), kept);
        Assert.Contains($"kept in fp32: {node}", back.Dump());

        BitConverter.TryWriteBytes(bytes.AsSpan(0, 4), LayerProgram.PayloadVersion - 1);
        var e = Assert.Throws<TrtNativeException>(() => LayerProgram.Read(new BinaryReader(new MemoryStream(bytes))));
        Assert.Equal(ErrorCode.StalePlan, e.Code);
        Assert.Contains("rebuild the plan", e.Message);
    }

    [Fact]
    public void MemoryPlanNeverOverlapsTensorsThatAreAliveTogether()
    {
        var program = GpuLowering.Lower(Optimizer.Optimize(Net(5)), fp16: false);
        var plan = MemoryPlan.Create(program, new Dictionary<string, long> { ["batch"] = 16 });
        long Size(ProgramTensor t) => t.Shape.Resolve(new Dictionary<string, long> { ["batch"] = 16 }).ElementCount() * t.ElementSize;
        for (int i = 0; i < program.Layers.Count; i++)
        {
            var l = program.Layers[i];
            var ids = l.Inputs.Concat(l.Outputs).Where(id => id >= 0).Select(program.Root).Distinct()
                .Where(id => !plan.InWeights[id]).ToList();
            foreach (var a in ids)
            {
                Assert.Equal(0, plan.Offsets[a] % MemoryPlan.Alignment);
                Assert.True(plan.Offsets[a] + Size(program.Tensors[a]) <= plan.ArenaBytes);
                foreach (var b in ids.Where(b => b != a))
                {
                    bool disjoint = plan.Offsets[a] + Size(program.Tensors[a]) <= plan.Offsets[b] || plan.Offsets[b] + Size(program.Tensors[b]) <= plan.Offsets[a];
                    Assert.True(disjoint, $"layer {l.Name}: %{a} and %{b} overlap");
                }
            }
        }
    }

    [Fact]
    public void AsymmetricPaddingLowersToAnExplicitPadAndASymmetricConv()
    {
        int seed = RandomTensors.FreshSeed();
        var g = Optimizer.Optimize(Net(seed, pads: [2, 1, 0, 1]));
        var program = GpuLowering.Lower(g, fp16: false);
        Assert.Single(program.Layers, l => l.Kind == LayerKind.Pad);
        var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(Rand(new Random(seed), 2 * 4 * 8 * 8), [2, 4, 8, 8]) };
        var want = ReferenceExecutor.Run(g, inputs)["m"];
        var got = new ProgramInterpreter(program).Run(inputs)["m"];
        double err = RelativeL2.Of(got, want);
        Assert.True(err <= 1e-6, $"rel L2 {err:E3} (seed {seed})\n{program.Dump()}");
    }

    [Fact]
    public void UnsupportedFormsAreNamedWithNodeOpAndOpset()
    {
        var conv1d = new Graph { Name = "conv1d" };
        conv1d.Opsets[""] = 17;
        conv1d.Inputs.Add(new ValueInfo("x", DataType.Float, Shapes.Of(1, 3, 16)));
        conv1d.Initializers["w"] = Tensor.FromFloats(Rand(new Random(7), 4 * 3 * 3), [4, 3, 3]);
        conv1d.Nodes.Add(new Node("Conv", ["x", "w"], ["y"], "conv1d"));
        conv1d.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        var e = Assert.Throws<TrtNativeException>(() => GpuLowering.Lower(Optimizer.Optimize(conv1d), fp16: false));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Contains("'conv1d'", e.Message);
        Assert.Contains("2-D", e.Message);
        Assert.Contains("opset 17", e.Message);

        var g = new Graph { Name = "bad" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, Shapes.Of(2, 3)));
        g.Nodes.Add(new Node("Relu", ["x"], ["y"], "relu"));
        g.Nodes.Add(new Node("Greater", ["y", "x"], ["z"], "cmp"));
        g.Outputs.Add(new ValueInfo("z", DataType.Bool, null));
        var e2 = Assert.Throws<TrtNativeException>(() => GpuLowering.Lower(Optimizer.Optimize(g), fp16: false));
        Assert.Equal(ErrorCode.Unsupported, e2.Code);
        Assert.Contains("'cmp'", e2.Message);
        Assert.Contains("Greater", e2.Message);
        Assert.Contains("GPU ops:", e2.Message);
    }
}

/// <summary>The exact-GELU chain (Div → Erf → Add → Mul → Mul) becomes one GELU layer and still computes the graph.</summary>
public class GeluLoweringTests
{
    [Fact]
    public void ErfGeluChainIsOneLayerAndMatchesTheReference()
    {
        int seed = RandomTensors.FreshSeed();
        var r = new Random(seed);
        var g = new Graph { Name = "gelu" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [Dim.Sym("batch"), Dim.Of(5), Dim.Of(16)]));
        var w = new float[16 * 32];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(r.NextDouble() * 2 - 1);
        g.Initializers["w"] = Tensor.FromFloats(w, [16, 32]);
        g.Initializers["sqrt2"] = Tensor.Scalar(1.4142135f);
        g.Initializers["one"] = Tensor.Scalar(1f);
        g.Initializers["half"] = Tensor.Scalar(0.5f);
        g.Nodes.Add(new Node("MatMul", ["x", "w"], ["h"], "fc"));
        g.Nodes.Add(new Node("Div", ["h", "sqrt2"], ["d"], "div"));
        g.Nodes.Add(new Node("Erf", ["d"], ["e"], "erf"));
        g.Nodes.Add(new Node("Add", ["e", "one"], ["a"], "add"));
        g.Nodes.Add(new Node("Mul", ["h", "a"], ["m"], "mul"));
        g.Nodes.Add(new Node("Mul", ["m", "half"], ["y"], "mul_half"));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        var opt = Optimizer.Optimize(g);
        var program = GpuLowering.Lower(opt, fp16: false);
        Assert.Equal(1, program.Layers.Count(l => l.Kind == LayerKind.Unary));
        Assert.Equal(0, program.Layers.Count(l => l.Kind == LayerKind.Binary));
        var x = Tensor.FromFloats(Enumerable.Range(0, 2 * 5 * 16).Select(_ => (float)(r.NextDouble() * 4 - 2)).ToArray(), [2, 5, 16]);
        var inputs = new Dictionary<string, Tensor> { ["x"] = x };
        var want = ReferenceExecutor.Run(opt, inputs)["y"];
        var got = new ProgramInterpreter(program).Run(inputs)["y"];
        double err = RelativeL2.Of(got, want);
        Assert.True(err <= 1e-6, $"rel L2 {err:E3} (seed {seed})");
    }
}

/// <summary>Row-wise ops (MatMul by a shared weight, LayerNorm) run on a transposed view without copies.</summary>
public class RowwiseLayoutTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SeqFirstViewNeedsNoCopies(bool fp16)
    {
        int seed = RandomTensors.FreshSeed();
        var r = new Random(seed);
        float[] Rand(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
        var g = new Graph { Name = "seqfirst" };
        g.Opsets[""] = 17;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [Dim.Sym("batch"), Dim.Of(7), Dim.Of(16)]));
        g.Initializers["w"] = Tensor.FromFloats(Rand(16 * 24), [16, 24]);
        g.Initializers["bias"] = Tensor.FromFloats(Rand(24), [24]);
        g.Initializers["scale"] = Tensor.FromFloats(Rand(24), [24]);
        g.Initializers["shift"] = Tensor.FromFloats(Rand(24), [24]);
        g.Nodes.Add(new Node("Transpose", ["x"], ["t"], "to_seq_first").Set("perm", new long[] { 1, 0, 2 }));
        g.Nodes.Add(new Node("MatMul", ["t", "w"], ["m"], "proj"));
        g.Nodes.Add(new Node("Add", ["m", "bias"], ["mb"], "proj_bias"));
        g.Nodes.Add(new Node("LayerNormalization", ["mb", "scale", "shift"], ["ln"], "ln").Set("axis", -1L));
        g.Nodes.Add(new Node("Transpose", ["ln"], ["y"], "to_batch_first").Set("perm", new long[] { 1, 0, 2 }));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        var opt = Optimizer.Optimize(g);
        var program = GpuLowering.Lower(opt, fp16);
        // fp32: only the output copy; fp16: plus the input conversion.
        Assert.Equal(fp16 ? 2 : 1, program.Layers.Count(l => l.Kind == LayerKind.Copy));
        var x = Tensor.FromFloats(Rand(3 * 7 * 16), [3, 7, 16]);
        var inputs = new Dictionary<string, Tensor> { ["x"] = x };
        var want = ReferenceExecutor.Run(opt, inputs, new ReferenceOptions { RoundToFp16 = fp16 })["y"];
        var got = new ProgramInterpreter(program).Run(inputs)["y"];
        Assert.Equal(want.Shape, got.Shape);
        double err = RelativeL2.Of(got, want);
        Assert.True(err <= (fp16 ? 5e-3 : 1e-6), $"rel L2 {err:E3} (seed {seed})\n{program.Dump()}");
    }
}
