using System.CommandLine;
using System.Diagnostics;
using SkiaSharp;
using TrtNative.Cuda;
using TrtNative.Runtime;
using TrtNative.Sample.LoadGen;

namespace TrtNative.Sample.Commands;

/// <summary>
/// decodebench [--images DIR | --synthetic 640x480,1920x1080] [--synthetic-count N] [--batch 16,64,128,16-24]
/// [--decoders 1,2,4] [--cpu-threads N] [--size 224] [--duration 3s] [--engine-plan PLAN [--engine-batch 20]]: how many
/// JPEGs per second can be decoded and
/// resized at all, without a server — the ceiling of the server's GPU image path. On the GPU: D threads, each with its
/// own stream and <see cref="GpuJpegDecoder"/>, decode batches of B files and resize them to SIZE×SIZE until the time
/// is up (a range A-B cycles the batch size through A..B, as a server's batches vary from one to the next); the line also gives the host time of the decode call per batch (nvJPEG's parsing, and whatever of the
/// decoding blocks the caller) against the whole batch's time. With --engine-plan every GPU line is measured again
/// while that engine runs back to back at --engine-batch on a stream of its own ("engine=B"), twice: with the decoders'
/// streams at the default and at the greatest priority ("priority=default|high"), with the engine's images/s meanwhile:
/// a server overlaps one batch's decoding with another's engine run, and these lines say how much the two slow each
/// other down. On the CPU: N threads decoding with SkiaSharp and resizing (the server's fallback
/// path). One line per measurement, "DECODE gpu|cpu|engine ...", for scripts to grep.
/// </summary>
internal static class DecodeBenchCommand
{
    public static Command Create()
    {
        var command = new Command("decodebench", "JPEG decoding + resizing throughput without a server: nvJPEG batches on the GPU (per batch size " +
                                                 "and number of concurrent decoders) and SkiaSharp on CPU threads.");
        var images = new Option<string?>("--images") { Description = "folder of JPEGs (grouped by size)" };
        var synthetic = new Option<string>("--synthetic") { Description = "sizes of synthetic JPEGs when no folder is given", DefaultValueFactory = _ => "640x480,1920x1080" };
        var syntheticCount = new Option<int>("--synthetic-count") { Description = "synthetic JPEGs per size", DefaultValueFactory = _ => 8 }.AtLeast(1);
        var batches = new Option<string>("--batch") { Description = "files per GPU decode call; A-B cycles through A..B", DefaultValueFactory = _ => "16,64,128" };
        var decoders = new Option<string>("--decoders") { Description = "concurrent GPU decoders (threads, each with its own stream); 0: no GPU run", DefaultValueFactory = _ => "1,2,4" };
        var cpuThreads = new Option<int>("--cpu-threads") { Description = "CPU decoding threads (0: no CPU run)", DefaultValueFactory = _ => Environment.ProcessorCount }.AtLeast(0);
        var size = new Option<int>("--size") { Description = "the square size images are resized to", DefaultValueFactory = _ => 224 }.AtLeast(1);
        var duration = new Option<string>("--duration") { Description = "measured time per line (e.g. 3s, 500ms)", DefaultValueFactory = _ => "3s" };
        var enginePlan = new Option<string?>("--engine-plan") { Description = "also measure each GPU line while this engine plan runs on another stream" };
        var engineBatch = new Option<int>("--engine-batch") { Description = "the background engine's batch size", DefaultValueFactory = _ => 20 }.AtLeast(1);
        foreach (var o in new Option[] { images, synthetic, syntheticCount, batches, decoders, cpuThreads, size, duration, enginePlan, engineBatch })
            command.Options.Add(o);
        Cli.SetAction(command, r =>
        {
            (int Min, int Max)[] batchSizes;
            int[] decoderCounts;
            TimeSpan time;
            (int Width, int Height)[] sizes;
            try
            {
                batchSizes = LoadGenOptions.ParseRanges(r.GetValue(batches)!, "--batch", "batch size", min: 1);
                decoderCounts = LoadGenOptions.ParseCounts(r.GetValue(decoders)!, "--decoders", "count", min: 0);
                time = LoadGenOptions.ParseDuration(r.GetValue(duration)!, positive: true);
                sizes = LoadGenOptions.ParseSizes(r.GetValue(synthetic)!);
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine("decodebench: " + e.Message);
                Console.Error.WriteLine("See 'TrtNative.Sample decodebench --help'.");
                return Cli.Usage;
            }
            string? folder = r.GetValue(images);
            var files = folder is not null
                ? LoadImages.FromFolder(folder)
                : LoadImages.Synthetic(sizes, r.GetValue(syntheticCount), Path.Combine(Path.GetTempPath(), "trtnative-decodebench"));
            int side = r.GetValue(size);
            using var load = r.GetValue(enginePlan) is string plan && decoderCounts.Any(d => d > 0) ? new BackgroundEngine(plan, r.GetValue(engineBatch)) : null;
            if (load is not null)
                Console.WriteLine($"DECODE engine batch={load.Batch} alone images_per_s={load.ImagesPerSecond(time):F0}");
            foreach (var group in files.GroupBy(f => (f.Width, f.Height)).OrderBy(g => g.Key.Width * g.Key.Height))
            {
                var bytes = group.Select(f => f.Bytes).ToArray();
                string label = $"size={group.Key.Width}x{group.Key.Height} files={bytes.Length}";
                if (r.GetValue(cpuThreads) is > 0 and var threads)
                    Console.WriteLine($"DECODE cpu {label} threads={threads} images_per_s={CpuImagesPerSecond(bytes, threads, side, time):F0}");
                foreach (int d in decoderCounts.Where(d => d > 0))
                    foreach (var b in batchSizes)
                    {
                        string line = $"DECODE gpu {label} batch={(b.Min == b.Max ? $"{b.Min}" : $"{b.Min}-{b.Max}")} decoders={d}";
                        Console.WriteLine($"{line} {GpuRun(bytes, b.Min, b.Max, d, side, time)}");
                        if (load is null) continue;
                        // Next to the engine, with the decoders' streams at the default and at the greatest priority
                        // (the server prepares its batches on high-priority streams).
                        foreach (bool high in new[] { false, true })
                        {
                            load.Start();
                            string loaded = GpuRun(bytes, b.Min, b.Max, d, side, time, high);
                            Console.WriteLine($"{line} engine={load.Batch} priority={(high ? "high" : "default")} {loaded} engine_images_per_s={load.Stop():F0}");
                        }
                    }
            }
            return Cli.Ok;
        });
        return command;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on <paramref name="threads"/> threads (arguments: the thread's index, "go on?" and
    /// "count these images"); once every thread has asked "go on?" the first time (its setup is done), a warm-up of a
    /// fifth of <paramref name="time"/> (clocks, caches, nvJPEG's buffers at their size), then <paramref name="time"/>
    /// measured. Returns the images counted in the measured part; a thread's exception is rethrown.
    /// </summary>
    private static long Measure(int threads, TimeSpan time, Action<int, Func<bool>, Action<int>> work)
    {
        var counts = new long[threads];
        int stop = 0;
        Exception? failure = null;
        using var ready = new CountdownEvent(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            bool signalled = false;
            try
            {
                work(t, () =>
                {
                    if (!signalled) { signalled = true; ready.Signal(); }
                    return Volatile.Read(ref stop) == 0;
                }, n => Interlocked.Add(ref counts[t], n));
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
                Volatile.Write(ref stop, 1);
            }
            finally
            {
                if (!signalled) ready.Signal();
            }
        }) { IsBackground = true }).ToList();
        foreach (var w in workers) w.Start();
        ready.Wait();
        long Total() => Enumerable.Range(0, threads).Sum(t => Interlocked.Read(ref counts[t]));
        Thread.Sleep(time / 5);
        long first = Total();
        Thread.Sleep(time);
        long last = Total();
        Volatile.Write(ref stop, 1);
        foreach (var w in workers) w.Join();
        if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        return last - first;
    }

    private static double CpuImagesPerSecond(byte[][] files, int threads, int side, TimeSpan time)
    {
        long images = Measure(threads, time, (t, go, count) =>
        {
            int k = t;
            while (go())
            {
                using var bmp = SKBitmap.Decode(files[k++ % files.Length]) ?? throw new InvalidDataException("SkiaSharp could not decode a benchmark file");
                using var small = bmp.Resize(new SKImageInfo(side, side, SKColorType.Rgba8888), new SKSamplingOptions(SKFilterMode.Linear));
                count(1);
            }
        });
        return images / time.TotalSeconds;
    }

    // Batches of minBatch..maxBatch files (cycling, one size per call) on each of `decoders` threads.
    private static string GpuRun(byte[][] files, int minBatch, int maxBatch, int decoders, int side, TimeSpan time, bool highPriority = false)
    {
        using var ctx = CudaContext.Create();
        var hostSeconds = new double[decoders];
        var batchSeconds = new double[decoders];
        var batchesRun = new long[decoders];
        var refused = new long[decoders];
        var hardware = new bool[decoders];
        long images = Measure(decoders, time, (t, go, count) =>
        {
            using var stream = CudaStream.Create(ctx, highPriority);
            using var decoder = new GpuJpegDecoder(ctx, maxBatch);
            long imageBytes = (long)side * side * 3;
            using var destination = DeviceBuffer<byte>.Allocate(ctx, maxBatch * imageBytes);
            var inputs = Enumerable.Range(minBatch, maxBatch - minBatch + 1)
                .Select(b => Enumerable.Range(0, b).Select(i => (ReadOnlyMemory<byte>)files[(t + i) % files.Length]).ToList()).ToArray();
            var results = new GpuJpegImage[maxBatch];
            var jobs = new List<JpegResize>(maxBatch);
            try
            {
                for (long call = 0; go(); call++)
                {
                    var input = inputs[call % inputs.Length];
                    int batch = input.Count;
                    long begin = Stopwatch.GetTimestamp();
                    decoder.Decode(stream, input, results.AsSpan(0, batch));
                    long decoded = Stopwatch.GetTimestamp();
                    jobs.Clear();
                    for (int i = 0; i < batch; i++)
                        if (results[i].Decoded) jobs.Add(new JpegResize(i, jobs.Count * imageBytes, side, side, 0, 0, ResizeFilter.Linear));
                    decoder.EnqueueResize(stream, jobs.ToArray(), destination, side, side, 3);
                    stream.Synchronize();
                    hostSeconds[t] += Stopwatch.GetElapsedTime(begin, decoded).TotalSeconds;
                    batchSeconds[t] += Stopwatch.GetElapsedTime(begin).TotalSeconds;
                    batchesRun[t]++;
                    refused[t] += batch - jobs.Count;
                    count(jobs.Count);
                }
            }
            finally
            {
                stream.Synchronize();  // nothing queued may outlive the buffers it uses
                hardware[t] = decoder.IsHardware;  // read after the runs: the decoder may have left the hardware path
            }
        });
        long n = batchesRun.Sum();
        return $"hardware={(hardware.All(h => h) ? 1 : 0)} images_per_s={images / time.TotalSeconds:F0} " +
               $"decode_call_ms={1000 * hostSeconds.Sum() / Math.Max(n, 1):F3} batch_ms={1000 * batchSeconds.Sum() / Math.Max(n, 1):F3} refused={refused.Sum()}";
    }

    /// <summary>
    /// An engine plan replayed back to back on a stream of its own (at most two runs queued), on a thread of its own
    /// between <see cref="Start"/> and <see cref="Stop"/>: the GPU work a server's other lane does while a batch decodes.
    /// </summary>
    private sealed class BackgroundEngine : IDisposable
    {
        private readonly CudaContext _ctx;
        private readonly Engine _engine;
        private readonly TrtNative.Runtime.EngineContext _ec;
        private readonly CudaStream _stream;
        private readonly CudaEvent[] _done;
        private Thread? _thread;
        private volatile bool _stop;
        private long _runs;
        private long _started;
        private volatile Exception? _failure;

        public BackgroundEngine(string plan, int batch)
        {
            _ctx = CudaContext.Create();
            _engine = Engine.Load(_ctx, plan);
            Batch = EngineTiming.ClampBatch(_engine, batch);
            _ec = _engine.CreateContext();
            EngineTiming.Prepare(_engine, _ec, Batch);
            _stream = CudaStream.Create(_ctx);
            _done = [CudaEvent.Create(_ctx), CudaEvent.Create(_ctx)];
        }

        /// <summary>The batch the engine runs at (within the plan's profile).</summary>
        public long Batch { get; }

        /// <summary>Images/s of the engine alone, run for <paramref name="time"/>.</summary>
        public double ImagesPerSecond(TimeSpan time)
        {
            Start();
            Thread.Sleep(time);
            return Stop();
        }

        public void Start()
        {
            _stop = false;
            Interlocked.Exchange(ref _runs, 0);
            _started = Stopwatch.GetTimestamp();
            _failure = null;
            _thread = new Thread(() =>
            {
                try
                {
                    for (long k = 0; !_stop; k++)
                    {
                        // Two runs in flight: wait for the one before the previous, then queue the next.
                        var ev = _done[k % 2];
                        if (k >= 2) { ev.Synchronize(); Interlocked.Increment(ref _runs); }
                        _ec.EnqueueAsync(_stream);
                        ev.Record(_stream);
                    }
                }
                catch (Exception e)
                {
                    _failure = e;  // rethrown by Stop, on the measuring thread
                }
            }) { IsBackground = true };
            _thread.Start();
        }

        /// <summary>Stops the runs and returns the engine's images/s since <see cref="Start"/>.</summary>
        public double Stop()
        {
            _stop = true;
            _thread?.Join();
            if (_failure is { } failure)
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            _stream.Synchronize();
            double seconds = Stopwatch.GetElapsedTime(_started).TotalSeconds;
            return Interlocked.Read(ref _runs) * Batch / Math.Max(seconds, 1e-9);
        }

        public void Dispose()
        {
            _stop = true;
            _thread?.Join();
            _stream.Synchronize();
            foreach (var e in _done) e.Dispose();
            _stream.Dispose();
            _ec.Dispose();
            _engine.Dispose();
            _ctx.Dispose();
        }
    }
}
