using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.Tests.Runtime;

/// <summary><see cref="ProtectionCache"/>: precision protection's decision as a timing-cache entry.</summary>
public class ProtectionCacheTests
{
    private static PlanHeader Header(string model = "m1", string gpu = "NVIDIA H200") => new()
    {
        GpuName = gpu, ComputeCapability = new ComputeCapability(9, 0), CudaDriverVersion = 13000, CudnnVersion = 91900,
        CublasLtVersion = 130100, ModelHash = model, Settings = new BuildSettings(Precision.Fp16, 1 << 20, true),
    };

    private static Graph Net(string reluName = "relu")
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", 1, 4);
        return b.Build(b.Node("Relu", [x], name: reluName).Outputs[0]);
    }

    private static IReadOnlyList<IReadOnlyDictionary<string, Tensor>> Calibration(float first) =>
        [new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats([first, 2, 3, 4], [1, 4]) }];

    [Fact]
    public void KeptNodesSurviveTheRoundTripInOrderWhateverTheirNames()
    {
        var keep = new Dictionary<string, string>
        {
            ["conv 2/&odd=name"] = "fp32 output reaches 1.5E+005, beyond fp16's range",
            ["/layer.1/Add"] = "NaN starts here: 100%",
        };
        string id = ProtectionCache.Encode(keep);
        var back = ProtectionCache.Decode(id);
        Assert.NotNull(back);
        Assert.Equal(keep.ToList(), back!.ToList());
        Assert.Empty(ProtectionCache.Decode(ProtectionCache.Encode(new Dictionary<string, string>()))!);
    }

    [Theory]
    [InlineData("cudnn:IMPLICIT_GEMM:ws=0")]   // a tactic, not a decision
    [InlineData("keep:novalue")]
    [InlineData("keep:a=1&a=2")]
    public void OtherIdsAreNotDecisions(string id) => Assert.Null(ProtectionCache.Decode(id));

    [Fact]
    public void TheKeyFollowsModelGraphPrecisionCalibrationAndGpu()
    {
        string key = ProtectionCache.Key(Header(), Net(), Precision.Fp16, Calibration(1));
        Assert.Equal(key, ProtectionCache.Key(Header(), Net(), Precision.Fp16, Calibration(1)));
        Assert.NotEqual(key, ProtectionCache.Key(Header(model: "m2"), Net(), Precision.Fp16, Calibration(1)));
        Assert.NotEqual(key, ProtectionCache.Key(Header(), Net("renamed by another optimizer"), Precision.Fp16, Calibration(1)));
        Assert.NotEqual(key, ProtectionCache.Key(Header(), Net(), Precision.Bf16, Calibration(1)));
        Assert.NotEqual(key, ProtectionCache.Key(Header(), Net(), Precision.Fp16, Calibration(1.5f)));
        Assert.NotEqual(key, ProtectionCache.Key(Header(gpu: "NVIDIA H100 80GB HBM3"), Net(), Precision.Fp16, Calibration(1)));
    }

    /// <summary>A decision stored in a timing cache file comes back from it.</summary>
    [Fact]
    public void ADecisionIsKeptByTheTimingCacheFile()
    {
        using var dir = new TempDir();
        var cache = new TimingCache();
        string key = ProtectionCache.Key(Header(), Net(), Precision.Fp16, Calibration(1));
        cache.Set(key, ProtectionCache.Encode(new Dictionary<string, string> { ["c2"] = "overflow" }), 1234.5);
        TimingCacheFile.Save(dir.File("t.cache"), cache);
        Assert.True(TimingCacheFile.Load(dir.File("t.cache")).TryGet(key, out var entry));
        Assert.Equal("overflow", ProtectionCache.Decode(entry.TacticId)!["c2"]);
    }
}
