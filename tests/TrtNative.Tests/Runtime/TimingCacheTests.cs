using TrtNative.Cuda;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.Tests.Runtime;

public class TimingCacheTests
{
    private static TimingCache Sample(int n, int seed)
    {
        var rng = new Random(seed);
        var c = new TimingCache();
        for (int i = 0; i < n; i++)
        {
            string key = TimingCache.Key($"Conv[1x{64 + i}x56x56,k3,s1,fp16]", "NVIDIA H100 80GB HBM3", new ComputeCapability(9, 0), 90100, 120402);
            c.Set(key, $"cudnn:algo{rng.Next(8)}", rng.NextDouble());
        }
        return c;
    }

    [Fact]
    public void KeyIncludesGpuAndLibraryVersions()
    {
        string a = TimingCache.Key("Gemm[64x768x768]", "H100", new ComputeCapability(9, 0), 90100, 120402);
        Assert.Equal("Gemm[64x768x768]|gpu=H100|sm=90|cudnn=90100|cublasLt=120402", a);
        Assert.NotEqual(a, TimingCache.Key("Gemm[64x768x768]", "H100", new ComputeCapability(9, 0), 90300, 120402));
        Assert.NotEqual(a, TimingCache.Key("Gemm[64x768x768]", "A100", new ComputeCapability(8, 0), 90100, 120402));
    }

    [Fact]
    public void SaveLoadRoundTrip()
    {
        using var dir = new TempDir();
        string path = dir.File("timing.cache");
        var c = Sample(50, Environment.TickCount);
        c.Set("unicode ü|gpu=x", "tactic-漢", 0.0);
        TimingCacheFile.Save(path, c);
        var back = TimingCacheFile.Load(path);
        Assert.Equal(c.Count, back.Count);
        foreach (var (k, v) in c.Entries)
        {
            Assert.True(back.TryGet(k, out var got), k);
            Assert.Equal(v, got);
        }
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void MissingFileIsAnEmptyCache() 
    {
        using var dir = new TempDir();
        Assert.Equal(0, TimingCacheFile.Load(dir.File("none.cache")).Count);
    }

    [Fact]
    public void MergeKeepsTheFasterTiming()
    {
        var a = new TimingCache();
        a.Set("k1", "t-a", 2.0);
        a.Set("k2", "t-a", 1.0);
        var b = new TimingCache();
        b.Set("k1", "t-b", 1.5);
        b.Set("k2", "t-b", 3.0);
        b.Set("k3", "t-b", 0.5);
        a.Merge(b);
        Assert.Equal(3, a.Count);
        Assert.Equal(new TimingEntry("t-b", 1.5), a.Entries["k1"]);
        Assert.Equal(new TimingEntry("t-a", 1.0), a.Entries["k2"]);
        Assert.Equal(new TimingEntry("t-b", 0.5), a.Entries["k3"]);
    }

    [Fact]
    public void MergeAndSaveCombinesWithTheFileOnDisk()
    {
        using var dir = new TempDir();
        string path = dir.File("t.cache");
        var first = new TimingCache();
        first.Set("k1", "old", 1.0);
        first.Set("k2", "old", 1.0);
        TimingCacheFile.Save(path, first);
        var second = new TimingCache();
        second.Set("k2", "new", 0.5);
        second.Set("k3", "new", 2.0);
        TimingCacheFile.MergeAndSave(path, second);
        var back = TimingCacheFile.Load(path);
        Assert.Equal(3, back.Count);
        Assert.Equal("old", back.Entries["k1"].TacticId);
        Assert.Equal("new", back.Entries["k2"].TacticId);
    }

    [Fact]
    public void InvalidTimingsAreRejected()
    {
        var c = new TimingCache();
        Assert.Equal(ErrorCode.InvalidArgument, Assert.Throws<TrtNativeException>(() => c.Set("k", "t", double.NaN)).Code);
        Assert.Equal(ErrorCode.InvalidArgument, Assert.Throws<TrtNativeException>(() => c.Set("k", "t", -1)).Code);
        Assert.Throws<ArgumentException>(() => c.Set("", "t", 1));
    }

    [Fact]
    public void CorruptFilesThrowOrAreIgnoredWithAWarning()
    {
        using var dir = new TempDir();
        string path = dir.File("t.cache");
        TimingCacheFile.Save(path, Sample(5, 1));
        var good = File.ReadAllBytes(path);

        var damaged = new List<(string What, byte[] Bytes)>
        {
            ("magic", good.Select((b, i) => i == 0 ? (byte)'Z' : b).ToArray()),
            ("truncated", good[..(good.Length / 2)]),
            ("flipped", good.Select((b, i) => i == good.Length / 2 ? (byte)(b ^ 0x10) : b).ToArray()),
            ("empty", []),
        };
        foreach (var (what, bytes) in damaged)
        {
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<TrtNativeException>(() => TimingCacheFile.Load(path));
            Assert.True(e.Code == ErrorCode.CorruptPlan, what);
            Assert.Contains("Timing cache", e.Message);

            var warnings = new List<string>();
            var cache = TimingCacheFile.Load(path, warnings.Add);
            Assert.Equal(0, cache.Count);
            Assert.Single(warnings);
            Assert.Contains("Ignoring it", warnings[0]);
        }

        // Unknown format version with a valid checksum is reported too (not misread).
        var v2 = TimingCacheFile.Encode(Sample(1, 2));
        v2[8] = 2;
        var fixedSum = System.Security.Cryptography.SHA256.HashData(v2.AsSpan(0, v2.Length - 32));
        fixedSum.CopyTo(v2, v2.Length - 32);
        Assert.Contains("format version 2", Assert.Throws<TrtNativeException>(() => TimingCacheFile.Parse(v2, "v2")).Message);
    }

    [Fact]
    public void CrashMidSaveKeepsTheOldFile()
    {
        using var dir = new TempDir();
        string path = dir.File("t.cache");
        var old = Sample(10, 3);
        TimingCacheFile.Save(path, old);
        var before = File.ReadAllBytes(path);
        Assert.Throws<IOException>(() => TimingCacheFile.Save(path, Sample(100, 4), s => new ThrowingStream(s, 200)));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(10, TimingCacheFile.Load(path).Count);
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
