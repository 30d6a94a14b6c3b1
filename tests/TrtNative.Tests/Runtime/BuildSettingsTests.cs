using System.Buffers.Binary;
using System.Text;
using TrtNative.Cuda;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.Tests.Runtime;

/// <summary>The build options a plan header stores typed, and how plans of another format are turned away.</summary>
public class BuildSettingsTests
{
    private static PlanHeader Header(BuildSettings settings) => new()
    {
        GpuName = "NVIDIA H200",
        ComputeCapability = new ComputeCapability(9, 0),
        CudaDriverVersion = 13000,
        CudnnVersion = 91400,
        CublasLtVersion = 130100,
        ModelHash = new string('c', 64),
        Settings = settings,
    };

    private static BuildSettings RoundTrip(BuildSettings s)
    {
        using var dir = new TempDir();
        string path = dir.File("m.plan");
        PlanFile.Write(path, Header(s), [1, 2, 3]);
        return PlanFile.Read(path).Header.Settings;
    }

    private static readonly string[] VariantNames = ["default", "fp32", "workspace0", "workspaceMax", "noAutotune", "noProtection", "level0", "level5", "bf16", "twoInputs", "rank0", "unicodeName"];

    public static TheoryData<string> Variants => new(VariantNames);

    private static BuildSettings Variant(string name)
    {
        var profile = new Dictionary<string, InputShapeRange> { ["x"] = new([1, 3, 32, 32], [4, 3, 32, 32], [16, 3, 32, 32]) };
        return name switch
        {
            "default" => BuildSettings.Default,
            "fp32" => new BuildSettings(Precision.Fp32, 1 << 20, true, profile),
            "workspace0" => new BuildSettings(Precision.Fp16, 0, true, profile),
            "workspaceMax" => new BuildSettings(Precision.Fp16, long.MaxValue, true, profile),
            "noAutotune" => new BuildSettings(Precision.Fp16, 64L << 20, false, profile),
            "noProtection" => new BuildSettings(Precision.Fp16, 64L << 20, true, profile, precisionProtection: false),
            "level0" => new BuildSettings(Precision.Fp16, 64L << 20, true, profile, optimizationLevel: 0),
            "level5" => new BuildSettings(Precision.Fp16, 64L << 20, true, profile, optimizationLevel: 5),
            "bf16" => new BuildSettings(Precision.Bf16, 64L << 20, true, profile),
            "twoInputs" => new BuildSettings(Precision.Fp16, 64L << 20, true, new Dictionary<string, InputShapeRange>(profile)
            {
                ["mask"] = new([1, 128], [2, 256], [8, 512]),
            }),
            "rank0" => new BuildSettings(Precision.Fp32, 7, false, new Dictionary<string, InputShapeRange> { ["s"] = new([], [], []) }),
            "unicodeName" => new BuildSettings(Precision.Fp16, 3, true, new Dictionary<string, InputShapeRange> { ["入力 ü"] = new([2], [3], [4]) }),
            _ => throw new ArgumentException(name),
        };
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void EveryOptionSurvivesThePlanHeader(string variant)
    {
        var s = Variant(variant);
        var back = RoundTrip(s);
        Assert.Equal(s, back);
        Assert.Equal(s.Precision, back.Precision);
        Assert.Equal(s.MaxWorkspaceSize, back.MaxWorkspaceSize);
        Assert.Equal(s.Autotune, back.Autotune);
        Assert.Equal(s.PrecisionProtection, back.PrecisionProtection);
        Assert.Equal(s.OptimizationLevel, back.OptimizationLevel);
        Assert.Equal(s.Profile.Keys, back.Profile.Keys);
        foreach (var (name, r) in s.Profile)
        {
            Assert.Equal(r.Min, back.Profile[name].Min);
            Assert.Equal(r.Opt, back.Profile[name].Opt);
            Assert.Equal(r.Max, back.Profile[name].Max);
        }
        Assert.Equal(s.Canonical(), back.Canonical());
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void EachVariantDiffersFromTheOthers(string variant)
    {
        // Equality sees every option: no two variants compare equal, and a plan of one is stale for another.
        var s = Variant(variant);
        foreach (var other in VariantNames.Where(v => v != variant))
        {
            Assert.NotEqual(s, Variant(other));
            using var dir = new TempDir();
            string path = dir.File("m.plan");
            PlanFile.Write(path, Header(s), [9]);
            var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(path, new PlanExpectations { Settings = Variant(other) }));
            Assert.Equal(ErrorCode.StalePlan, e.Code);
            Assert.Contains("build options", e.Message);
        }
    }

    [Fact]
    public void ProfileOrderAndArrayIdentityDoNotMatter()
    {
        var a = new BuildSettings(Precision.Fp16, 1, true, new Dictionary<string, InputShapeRange>
        {
            ["b"] = new([1], [2], [3]), ["a"] = new([4], [5], [6]),
        });
        var b = new BuildSettings(Precision.Fp16, 1, true, new Dictionary<string, InputShapeRange>
        {
            ["a"] = new([4], [5], [6]), ["b"] = new([1], [2], [3]),
        });
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.Equal(new[] { "a", "b" }, a.Profile.Keys);
        Assert.NotEqual(a, new BuildSettings(Precision.Fp16, 1, true, new Dictionary<string, InputShapeRange> { ["a"] = new([4], [5], [7]), ["b"] = new([1], [2], [3]) }));
    }

    [Fact]
    public void ConfigSnapshotIsImmutableAndKeepsTheCanonicalText()
    {
        var config = new BuilderConfig { Precision = Precision.Fp32, MaxWorkspaceSize = 1234, Autotune = false };
        var profile = new OptimizationProfile().Set("input", [1, 3, 8, 8], [2, 3, 8, 8], [4, 3, 8, 8]);
        config.OptimizationProfiles.Add(profile);
        var s = config.Settings();
        Assert.Equal("precision=Fp32;workspace=1234;autotune=False;protection=True;level=3;input=[1,3,8,8]..[4,3,8,8] (opt [2,3,8,8])", s.Canonical());
        Assert.Equal(s.Canonical(), config.Canonical());

        config.MaxWorkspaceSize = 99;
        config.Precision = Precision.Fp16;
        profile.Ranges["input"].Max[0] = 64; // the profile's arrays are copied into the snapshot
        Assert.Equal(1234, s.MaxWorkspaceSize);
        Assert.Equal(Precision.Fp32, s.Precision);
        Assert.Equal(4, s.Profile["input"].Max[0]);
    }

    [Fact]
    public void TwoProfilesAreUnsupported()
    {
        var config = new BuilderConfig();
        config.OptimizationProfiles.Add(new OptimizationProfile());
        config.OptimizationProfiles.Add(new OptimizationProfile());
        Assert.Equal(ErrorCode.Unsupported, Assert.Throws<TrtNativeException>(() => config.Settings()).Code);
    }

    [Fact]
    public void DefaultsAreThoseOfANewConfig()
    {
        Assert.Equal(Precision.Fp16, BuildSettings.Default.Precision);
        Assert.Equal(256L << 20, BuildSettings.Default.MaxWorkspaceSize);
        Assert.True(BuildSettings.Default.Autotune);
        Assert.Empty(BuildSettings.Default.Profile);
    }

    /// <summary>A plan as version 1 wrote it: the build options as canonical text at the end of the header fields.</summary>
    private static byte[] VersionOnePlan()
    {
        var fields = new List<byte>();
        void Str(string s) { var b = Encoding.UTF8.GetBytes(s); U32(fields, (uint)b.Length); fields.AddRange(b); }
        Str("NVIDIA H200");
        I32(fields, 9); I32(fields, 0); I32(fields, 13000);
        I64(fields, 91400); I64(fields, 130100);
        fields.AddRange(new byte[32]);
        Str("precision=Fp16;workspace=268435456;autotune=True");
        var file = new List<byte>("TRTNPLAN"u8.ToArray());
        U32(file, 1);
        U32(file, (uint)fields.Count);
        file.AddRange(fields);
        I64(file, 3);
        file.AddRange(new byte[] { 1, 2, 3 });
        file.AddRange(System.Security.Cryptography.SHA256.HashData(file.ToArray()));
        return file.ToArray();
    }

    private static void U32(List<byte> to, uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); to.AddRange(b); }
    private static void I32(List<byte> to, int v) { var b = new byte[4]; BinaryPrimitives.WriteInt32LittleEndian(b, v); to.AddRange(b); }
    private static void I64(List<byte> to, long v) { var b = new byte[8]; BinaryPrimitives.WriteInt64LittleEndian(b, v); to.AddRange(b); }

    [Fact]
    public void AVersionOnePlanIsStaleAndSaysRebuild()
    {
        Assert.Equal(4, PlanFile.FormatVersion);
        var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(VersionOnePlan()));
        // StalePlan is what the server's GPU backend catches to rebuild the engine in place of the plan.
        Assert.Equal(ErrorCode.StalePlan, e.Code);
        Assert.Contains("format version 1", e.Message);
        Assert.Contains("reads version 4", e.Message);
        Assert.Contains("rebuild the engine", e.Message);
    }

    [Fact]
    public void OptimizationLevelIsZeroToFiveAndReachesTheSettings()
    {
        var c = new BuilderConfig();
        Assert.Equal(3, c.Settings().OptimizationLevel);
        foreach (int bad in new[] { -1, 6 })
            Assert.Contains("optimization level must be 0..5", Assert.Throws<TrtNativeException>(() => c.OptimizationLevel = bad).Message);
        c.OptimizationLevel = 1;
        Assert.Equal(1, c.Settings().OptimizationLevel);
        Assert.NotEqual(new BuilderConfig().Settings(), c.Settings());
        Assert.Contains("level=1", c.Canonical());
    }

    [Fact]
    public void DamagedOptionsAreCorrupt()
    {
        using var dir = new TempDir();
        string path = dir.File("m.plan");
        PlanFile.Write(path, Header(Variant("fp32")), [1]);
        var bytes = File.ReadAllBytes(path);
        // The precision field follows the fixed fields: magic 8, version 4, length 4, GPU name 4+11, cc 8, driver 4,
        // cuDNN 8, cuBLASLt 8, hash 32.
        int at = 8 + 4 + 4 + 4 + "NVIDIA H200".Length + 8 + 4 + 8 + 8 + 32;
        Assert.Equal((int)Precision.Fp32, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at)));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), 7);
        var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(bytes));
        Assert.Equal(ErrorCode.CorruptPlan, e.Code);
        Assert.Contains("unknown precision 7", e.Message);
    }
}
