using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.GpuTests;

/// <summary>
/// Several execution contexts of one engine running at the same time on their own streams, as the server's GPU lanes
/// do: each context has its own activations, workspace, cuDNN and cuBLASLt handles, shape slots and CUDA graphs; the
/// weights are the engine's. Their outputs must equal one context's, bit for bit.
/// </summary>
public class ConcurrentContextsGpuTests
{
    private readonly ITestOutputHelper _out;

    public ConcurrentContextsGpuTests(ITestOutputHelper output) => _out = output;

    [Theory]
    [InlineData(Precision.Fp32)]
    [InlineData(Precision.Fp16)]
    public void TwoContextsOnTwoStreamsGiveOneContextsOutputsBitForBit(Precision precision)
    {
        EngineGpuTests.RequireEngine();
        var g = EngineGpuTests.SmallNet(51);
        using var ctx = CudaContext.Create();
        using var engine = new Builder(ctx).Build(g, EngineGpuTests.Config(precision, "input", [1, 3, 16, 16], [4, 3, 16, 16], [8, 3, 16, 16]));
        const int item = 3 * 16 * 16, classes = 10, lanes = 2;
        // Batch sizes per round and lane: each size runs plain, then is captured, then replays; sizes switch between
        // rounds as a server's do.
        int[][] sizes = [[3, 8], [3, 8], [8, 3], [5, 5], [3, 8], [8, 3], [5, 5], [3, 8]];
        var rnd = new Random(52);
        var inputs = sizes.Select(r => r.Select(b => EngineGpuTests.Rand(rnd, (long)b * item)).ToArray()).ToArray();

        // One context, one batch at a time.
        var want = new float[sizes.Length][][];
        using (var single = engine.CreateContext())
            for (int r = 0; r < sizes.Length; r++)
            {
                want[r] = new float[lanes][];
                for (int l = 0; l < lanes; l++)
                    want[r][l] = single.Run(new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(inputs[r][l], [sizes[r][l], 3, 16, 16]) })["probs"].Floats!;
            }

        // Two contexts, each on its own stream with its own bound input and output, every round queued without waiting
        // in between: the two streams' work overlaps on the device wherever the GPU lets it.
        var owned = new List<IDisposable>();
        try
        {
            var execs = new EngineContext[lanes];
            var streams = new CudaStream[lanes];
            var ins = new DeviceBuffer<float>[lanes];
            var outs = new DeviceBuffer<float>[lanes];
            for (int l = 0; l < lanes; l++)
            {
                owned.Add(execs[l] = engine.CreateContext());
                owned.Add(streams[l] = CudaStream.Create(ctx));
                owned.Add(ins[l] = DeviceBuffer<float>.Allocate(ctx, 8L * item));
                owned.Add(outs[l] = DeviceBuffer<float>.Allocate(ctx, 8L * classes));
                execs[l].SetTensorAddress("input", ins[l].DevicePointer);
                execs[l].SetTensorAddress("probs", outs[l].DevicePointer);
                // Every shape set up first, as the server's warm-up does: the workspace reaches its size before any run.
                foreach (int b in sizes.SelectMany(r => r).Distinct())
                {
                    execs[l].SetInputShape("input", [b, 3, 16, 16]);
                    execs[l].GetOutputShape("probs");
                }
            }
            var hostIn = new PinnedBuffer<float>[sizes.Length, lanes];
            var hostOut = new PinnedBuffer<float>[sizes.Length, lanes];
            for (int r = 0; r < sizes.Length; r++)
                for (int l = 0; l < lanes; l++)
                {
                    owned.Add(hostIn[r, l] = PinnedBuffer<float>.Allocate(ctx, inputs[r][l].Length));
                    owned.Add(hostOut[r, l] = PinnedBuffer<float>.Allocate(ctx, sizes[r][l] * classes));
                    inputs[r][l].CopyTo(hostIn[r, l].Span);
                }
            for (int r = 0; r < sizes.Length; r++)
                for (int l = 0; l < lanes; l++)
                {
                    ins[l].EnqueueCopyFrom(hostIn[r, l], streams[l]);
                    execs[l].SetInputShape("input", [sizes[r][l], 3, 16, 16]);
                    execs[l].EnqueueAsync(streams[l]);
                    outs[l].EnqueueCopyTo(hostOut[r, l], streams[l], sizes[r][l] * classes);
                }
            foreach (var s in streams) s.Synchronize();
            for (int r = 0; r < sizes.Length; r++)
                for (int l = 0; l < lanes; l++)
                    Assert.True(want[r][l].AsSpan().SequenceEqual(hostOut[r, l].Span),
                        $"{precision} round {r} lane {l} (batch {sizes[r][l]}): differs from one context's output, rel L2 {EngineGpuTests.RelL2(hostOut[r, l].Span.ToArray(), want[r][l]):E3}");
            // The later rounds replayed graphs: each context captured its own on its own stream.
            for (int l = 0; l < lanes; l++) Assert.Equal(GraphState.Replaying, execs[l].GraphState);
            _out.WriteLine($"{precision}: {sizes.Length} rounds x {lanes} contexts equal to one context bit for bit");
        }
        finally
        {
            for (int i = owned.Count - 1; i >= 0; i--) owned[i].Dispose();
        }
    }
}
