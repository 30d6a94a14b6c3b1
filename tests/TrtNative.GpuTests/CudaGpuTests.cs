using TrtNative.Cuda;
using Xunit;

namespace TrtNative.GpuTests;

public class CudaGpuTests
{
    private readonly ITestOutputHelper _out;

    public CudaGpuTests(ITestOutputHelper output) => _out = output;

    private static float[] RandomFloats(int n, int seed)
    {
        var rng = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++)
            a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    [Fact]
    public void DeviceAndDriverAreDescribed()
    {
        Gpu.Require();
        Assert.True(CudaDevice.Count >= 1);
        var dev = CudaDevice.Get(0);
        _out.WriteLine($"{dev}; driver {CudaPlatform.DriverVersionString} ({CudaPlatform.DriverVersion}); elapsed-time entry {CudaDriver.ElapsedTimeEntryPoint}");
        Assert.False(string.IsNullOrWhiteSpace(dev.Name));
        Assert.True(dev.ComputeCapability.Major >= 3, $"compute capability {dev.ComputeCapability}");
        Assert.True(dev.MultiprocessorCount > 0);
        Assert.True(dev.TotalMemory > 1L << 30, $"total memory {dev.TotalMemory}");
        Assert.True(CudaPlatform.DriverVersion >= 11000, $"driver {CudaPlatform.DriverVersion}");
        var bad = Assert.Throws<TrtNativeException>(() => CudaDevice.Get(CudaDevice.Count));
        Assert.Equal(ErrorCode.InvalidArgument, bad.Code);
    }

    [Fact]
    public void EveryDeviceIsEnumeratedWithItsProperties()
    {
        Gpu.Require();
        var all = CudaDevice.All();
        Assert.Equal(CudaDevice.Count, all.Count);
        for (int i = 0; i < all.Count; i++)
        {
            var one = CudaDevice.Get(i);
            _out.WriteLine(all[i].ToString());
            Assert.Equal((i, one.Name, one.ComputeCapability, one.TotalMemory, one.MultiprocessorCount),
                (all[i].Ordinal, all[i].Name, all[i].ComputeCapability, all[i].TotalMemory, all[i].MultiprocessorCount));
            Assert.False(string.IsNullOrWhiteSpace(all[i].Name));
            Assert.True(all[i].TotalMemory > 1L << 30, $"GPU {i}: total memory {all[i].TotalMemory}");
        }
    }

    [Fact]
    public void CopyRoundTripPreservesFreshRandomData()
    {
        Gpu.Require();
        using var ctx = CudaContext.Create(0);
        int n = 1 << 20;
        var host = RandomFloats(n, Environment.TickCount);
        using var a = DeviceBuffer<float>.Allocate(ctx, n);
        using var b = DeviceBuffer<float>.Allocate(ctx, n);
        Assert.Equal(4L * n, a.SizeInBytes);
        Assert.NotEqual(0, a.DevicePointer);
        Assert.NotEqual(a.DevicePointer, b.DevicePointer);

        a.CopyFrom(host);
        b.CopyFrom(a); // device to device
        var back = new float[n];
        b.CopyTo(back);
        Assert.Equal(host, back);

        // Partial copies with offsets land where they should.
        var tail = new float[100];
        a.CopyTo(tail, offset: n - 100);
        Assert.Equal(host.AsSpan(n - 100).ToArray(), tail);
        a.CopyFrom(new float[] { 42f, 43f }, offset: 5);
        Assert.Equal(42f, a.ToArray()[5]);
        Assert.Equal(43f, a.ToArray()[6]);
        var outOfRange = Assert.Throws<TrtNativeException>(() => a.CopyFrom(new float[10], offset: n - 5));
        Assert.Equal(ErrorCode.InvalidArgument, outOfRange.Code);

        b.Clear();
        Assert.All(b.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void PinnedAsyncCopiesOnAStreamAndEventTiming()
    {
        Gpu.Require();
        using var ctx = CudaContext.Create(0);
        using var stream = CudaStream.Create(ctx);
        int n = 16 << 20; // 64 MiB of floats, long enough to time
        using var src = PinnedBuffer<float>.Allocate(ctx, n);
        using var dst = PinnedBuffer<float>.Allocate(ctx, n);
        var data = RandomFloats(n, Environment.TickCount ^ 0x5eed);
        data.CopyTo(src.Span);
        dst.Span.Fill(float.NaN);

        using var dev = DeviceBuffer<float>.Allocate(ctx, n);
        using var start = CudaEvent.Create(ctx);
        using var end = CudaEvent.Create(ctx);
        start.Record(stream);
        dev.EnqueueCopyFrom(src, stream);
        dev.EnqueueCopyTo(dst, stream);
        end.Record(stream);
        end.Synchronize();
        stream.Synchronize();

        Assert.True(dst.Span.SequenceEqual(data), "pinned round trip differs");
        float ms = CudaEvent.ElapsedMilliseconds(start, end);
        double gbps = 2.0 * dev.SizeInBytes / (ms / 1000.0) / 1e9;
        _out.WriteLine($"H2D+D2H of {dev.SizeInBytes >> 20} MiB each: {ms:F3} ms, {gbps:F1} GB/s");
        Assert.True(ms > 0 && ms < 10_000, $"elapsed {ms} ms");

        // Async clear on the stream, then read back.
        dev.Clear(stream);
        dev.EnqueueCopyTo(dst, stream);
        stream.Synchronize();
        Assert.Equal(0f, dst.Span[0]);
        Assert.Equal(0f, dst.Span[n - 1]);

        // Partial async copies move exactly `count` elements.
        dst.Span.Fill(7f);
        dev.EnqueueCopyFrom(src, stream, count: 1000);
        dev.EnqueueCopyTo(dst, stream, count: 2000);
        stream.Synchronize();
        Assert.True(dst.Span[..1000].SequenceEqual(data.AsSpan(0, 1000)), "first 1000 copied");
        Assert.All(dst.Span[1000..2000].ToArray(), v => Assert.Equal(0f, v)); // still cleared on the device
        Assert.Equal(7f, dst.Span[2000]);                                     // beyond count: untouched
        Assert.Equal(ErrorCode.InvalidArgument,
            Assert.Throws<TrtNativeException>(() => dev.EnqueueCopyTo(dst, stream, count: n + 1)).Code);
    }

    [Fact]
    public void MemoryInfoSeesAnAllocation()
    {
        Gpu.Require();
        using var ctx = CudaContext.Create(0);
        var before = ctx.GetMemoryInfo();
        Assert.True(before.Total > 0 && before.Free > 0 && before.Free <= before.Total, $"{before}");
        Assert.Equal(CudaDevice.Get(0).TotalMemory, before.Total);
        long bytes = 1L << 30;
        long liveBefore = CudaDiagnostics.LiveDeviceBytes;
        using (var big = DeviceBuffer<byte>.Allocate(ctx, bytes))
        {
            var during = ctx.GetMemoryInfo();
            _out.WriteLine($"free before {before.Free >> 20} MiB, with 1 GiB allocated {during.Free >> 20} MiB");
            Assert.True(before.Free - during.Free >= bytes * 9 / 10, $"free dropped only {(before.Free - during.Free) >> 20} MiB");
            Assert.Equal(liveBefore + bytes, CudaDiagnostics.LiveDeviceBytes);
        }
        Assert.Equal(liveBefore, CudaDiagnostics.LiveDeviceBytes);
        var after = ctx.GetMemoryInfo();
        Assert.True(after.Free >= before.Free - (64L << 20), $"memory not returned: {before.Free >> 20} -> {after.Free >> 20} MiB");
    }

    [Fact]
    public void ImpossibleAllocationIsOutOfMemoryAndTheContextStaysUsable()
    {
        Gpu.Require();
        using var ctx = CudaContext.Create(0);
        long live = CudaDiagnostics.LiveDeviceAllocations;
        var e = Assert.Throws<TrtNativeException>(() => DeviceBuffer<byte>.Allocate(ctx, 1L << 50)); // 1 PiB
        _out.WriteLine(e.Message);
        Assert.Equal(ErrorCode.OutOfMemory, e.Code);
        Assert.Contains("cuMemAlloc_v2", e.Message);
        Assert.Contains("CUDA_ERROR_OUT_OF_MEMORY", e.Message);
        Assert.Equal(live, CudaDiagnostics.LiveDeviceAllocations);

        using var ok = DeviceBuffer<int>.Allocate(ctx, 1024);
        var v = Enumerable.Range(0, 1024).ToArray();
        ok.CopyFrom(v);
        Assert.Equal(v, ok.ToArray());
        ctx.Synchronize();
    }

    [Fact]
    public void DisposingTheContextFirstGivesAClearErrorNotACrash()
    {
        Gpu.Require();
        long leaked = CudaDiagnostics.LeakedAllocations, failed = CudaDiagnostics.FailedReleases;
        long live = CudaDiagnostics.LiveDeviceAllocations;
        var ctx = CudaContext.Create(0);
        var buf = DeviceBuffer<float>.Allocate(ctx, 256);
        var pinned = PinnedBuffer<float>.Allocate(ctx, 256);
        var stream = CudaStream.Create(ctx);
        var ev = CudaEvent.Create(ctx);

        ctx.Dispose();
        Assert.True(ctx.IsDisposed);
        var use = Assert.Throws<ObjectDisposedException>(() => buf.CopyFrom(new float[256]));
        Assert.Contains("Dispose buffers, streams and events before their context", use.Message);
        Assert.Throws<ObjectDisposedException>(() => stream.Synchronize());
        Assert.Throws<ObjectDisposedException>(() => ev.Record(stream));
        Assert.Throws<ObjectDisposedException>(() => ctx.GetMemoryInfo());

        // Children still free cleanly: they held the context alive.
        ev.Dispose();
        stream.Dispose();
        pinned.Dispose();
        buf.Dispose();
        Assert.Equal(live, CudaDiagnostics.LiveDeviceAllocations);
        Assert.Equal(failed, CudaDiagnostics.FailedReleases);
        Assert.Equal(leaked, CudaDiagnostics.LeakedAllocations);
        Assert.Throws<ObjectDisposedException>(() => buf.DevicePointer);

        // A fresh context on the same device works afterwards.
        using var again = CudaContext.Create(0);
        using var b2 = DeviceBuffer<float>.Allocate(again, 16);
        b2.CopyFrom(new float[16]);
        again.Synchronize();
    }

    [Fact]
    public void ObjectsWorkFromAnotherThread()
    {
        Gpu.Require();
        using var ctx = CudaContext.Create(0);
        using var buf = DeviceBuffer<double>.Allocate(ctx, 1000);
        var data = Enumerable.Range(0, 1000).Select(i => i * 0.5).ToArray();
        // A new thread has no current context; the buffer makes its context current itself.
        var t = new Thread(() => buf.CopyFrom(data));
        t.Start();
        t.Join();
        Assert.Equal(data, buf.ToArray());
    }
}
