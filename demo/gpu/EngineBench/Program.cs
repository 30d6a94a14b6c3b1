// Raw throughput of a saved TrtNative plan through the engine API, for demo/gpu/resnet50_bench.sh.
// Usage: TrtNative.EngineBench PLAN --batch 1,64,128 [--iters 50] [--warmup 10] [--json FILE]
// For each batch: input on the GPU (random, bound with SetTensorAddress), `warmup` enqueues, then `iters` enqueues
// each timed with CUDA events; median and p90 ms per run and images/s from the median. Also times
// EngineContext.Run on host tensors (the server's path: copy in, run, copy out) for the same batch.
using System.Diagnostics;
using System.Text.Json;
using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Runtime;

string? plan = null, json = null;
long[] batches = [1, 64, 128];
int iters = 50, warmup = 10;
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--batch": batches = args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray(); break;
        case "--iters": iters = int.Parse(args[++i]); break;
        case "--warmup": warmup = int.Parse(args[++i]); break;
        case "--json": json = args[++i]; break;
        default: plan = args[i]; break;
    }
}
if (plan == null) { Console.Error.WriteLine("usage: TrtNative.EngineBench PLAN --batch 1,64,128 [--iters N] [--warmup N] [--json FILE]"); return 2; }
if (!CudaPlatform.IsAvailable(out string reason)) { Console.Error.WriteLine("engine bench: no usable GPU: " + reason); return 1; }

using var ctx = CudaContext.Create();
var sw = Stopwatch.StartNew();
using var engine = Engine.Load(ctx, plan);
Console.WriteLine($"loaded {Path.GetFileName(plan)} in {sw.Elapsed.TotalSeconds:F2} s: {engine.LayerCount} layers, weights {engine.WeightBytes >> 20} MiB, activations {engine.ActivationBytes >> 20} MiB");
var input = engine.Inputs[0];
string output = engine.Outputs[0].Name;
Console.WriteLine($"input {input}, output {engine.Outputs[0]}");
using var ec = engine.CreateContext();
using var stream = CudaStream.Create(ctx);
using var t0 = CudaEvent.Create(ctx);
using var t1 = CudaEvent.Create(ctx);
long perImage = input.MaxShape.Skip(1).Aggregate(1L, (a, b) => a * b);
long maxBatch = input.MaxShape[0];
var rng = new Random(1);
var host = new float[perImage * maxBatch];
for (int k = 0; k < host.Length; k++) host[k] = (float)rng.NextDouble();
using var dIn = DeviceBuffer<float>.Allocate(ctx, host.Length);
dIn.CopyFrom(host);
var results = new List<Dictionary<string, object>>();
foreach (long b in batches)
{
    if (b > maxBatch || b < input.MinShape[0]) { Console.WriteLine($"batch {b}: outside the plan's profile {input.MinShape[0]}..{maxBatch}, skipped"); continue; }
    long[] shape = [b, .. input.MaxShape.Skip(1)];
    ec.SetTensorAddress(input.Name, dIn.DevicePointer);
    ec.SetInputShape(input.Name, shape);
    for (int w = 0; w < warmup; w++) ec.EnqueueAsync(stream);
    stream.Synchronize();
    var ms = new double[iters];
    for (int it = 0; it < iters; it++)
    {
        t0.Record(stream);
        ec.EnqueueAsync(stream);
        t1.Record(stream);
        t1.Synchronize();
        ms[it] = CudaEvent.ElapsedMilliseconds(t0, t1);
    }
    Array.Sort(ms);
    double med = ms[iters / 2], p90 = ms[(int)(iters * 0.9)];
    // The server's path: host tensor in, Run (copies + enqueue + wait), host tensor out.
    var x = Tensor.FromFloats(host.AsSpan(0, (int)(b * perImage)).ToArray(), shape);
    var feeds = new Dictionary<string, Tensor> { [input.Name] = x };
    var y = ec.Run(feeds)[output];
    bool finite = y.Floats!.All(float.IsFinite);
    int hostIters = Math.Max(5, iters / 5);
    var hms = new double[hostIters];
    for (int it = 0; it < hostIters; it++)
    {
        var s = Stopwatch.GetTimestamp();
        ec.Run(feeds);
        hms[it] = Stopwatch.GetElapsedTime(s).TotalMilliseconds;
    }
    Array.Sort(hms);
    double hmed = hms[hostIters / 2];
    ec.SetTensorAddress(input.Name, dIn.DevicePointer); // Run may have rebound the input; bind ours again.
    var r = new Dictionary<string, object>
    {
        ["batch"] = b, ["gpu_ms_median"] = Math.Round(med, 4), ["gpu_ms_p90"] = Math.Round(p90, 4),
        ["images_per_s"] = Math.Round(b / med * 1000, 1), ["graph_state"] = ec.GraphState.ToString(),
        ["host_run_ms_median"] = Math.Round(hmed, 4), ["host_run_images_per_s"] = Math.Round(b / hmed * 1000, 1),
        ["outputs_finite"] = finite,
    };
    results.Add(r);
    Console.WriteLine($"ENGINE batch {b}: {med:F3} ms median (p90 {p90:F3}) on the GPU = {b / med * 1000:F0} images/s; " +
                      $"host Run {hmed:F3} ms = {b / hmed * 1000:F0} images/s; graph {ec.GraphState}; outputs finite {finite}");
}
if (json != null)
    File.WriteAllText(json, JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["plan"] = plan, ["gpu"] = ctx.Device.ToString(), ["iters"] = iters, ["warmup"] = warmup, ["results"] = results,
    }, new JsonSerializerOptions { WriteIndented = true }));
return 0;
