using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TrtNative.Server.Inference;
using TrtNative.Server.Services;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>
/// Scores of a model input tensor: (sum, first value, mean) — a stand-in for a real model that both fakes compute;
/// <paramref name="skew"/> is added to every score and <paramref name="poison"/> makes every second score NaN.
/// </summary>
public sealed class TensorScoresBackend(string kind, float skew = 0, bool poison = false) : IInferenceBackend
{
    public string Kind => kind;
    public int MaxBatchSize => 3; // smaller than AccuracyCheck.Items: the check must split its inputs
    public int OutputSize => 3;
    public long DeviceMemoryBytes => 0;
    public float[] Run(IReadOnlyList<PreparedImage> images)
    {
        var y = new float[images.Count * 3];
        for (int b = 0; b < images.Count; b++)
        {
            var x = images[b].Tensor ?? images[b].Pixels.Select(v => (float)v).ToArray();
            y[b * 3] = x.Sum() + skew;
            y[b * 3 + 1] = poison ? float.NaN : x[0] + skew;
            y[b * 3 + 2] = x.Average() + skew;
        }
        return y;
    }
    public void Dispose() { }
}

public class AccuracyCheckTests
{
    [Fact]
    public void SameFunctionAgreesAndASkewIsMeasured()
    {
        var reference = new TensorScoresBackend("ref");
        var same = AccuracyCheck.Run(new TensorScoresBackend("gpu"), reference, 1, 4, 4, seed: 7);
        Assert.Equal((0.0, 0L, 4, 4), (same.RelativeL2, same.NonFinite, same.Top1Agree, same.Rows));
        Assert.True(same.WithinBudget(TrtNative.Runtime.Precision.Fp32));

        var skewed = AccuracyCheck.Run(new TensorScoresBackend("gpu", skew: 0.5f), reference, 1, 4, 4, seed: 7);
        Assert.Equal(0.5, skewed.MaxAbsError, 5);
        Assert.True(skewed.RelativeL2 > 1e-2);
        Assert.False(skewed.WithinBudget(TrtNative.Runtime.Precision.Fp16));
    }
}

/// <summary>A server whose factory claims a GPU: the "GPU" engine is <see cref="Engine"/>, the CPU reference exact.</summary>
public sealed class FakeGpuServerFactory : ServerFactory
{
    public TensorScoresBackend Engine { get; set; } = new("fake-gpu");
    public FakeGpuServerFactory() =>
        TestServices = s => s.AddSingleton<BackendFactory>(sp => new FakeGpuFactory(sp.GetRequiredService<ServerOptions>(), this));
}

internal sealed class FakeGpuFactory(ServerOptions o, FakeGpuServerFactory server) : BackendFactory(o)
{
    public override int GpuCount => 1;
    public override BackendKind Select(string mllib, out string reason)
    {
        reason = "test: a GPU is claimed";
        return BackendKind.Gpu;
    }
    public override IInferenceBackend Create(BackendKind kind, BackendSpec spec) =>
        kind == BackendKind.Gpu ? server.Engine : new TensorScoresBackend("fake-cpu");
}

public class AccuracyCheckServerTests(FakeGpuServerFactory f) : IClassFixture<FakeGpuServerFactory>
{
    private async Task<System.Text.Json.Nodes.JsonNode> ReportOf(string name)
    {
        var c = f.CreateClient();
        var (code, created) = await Put(c, $"/services/{name}", MeansService(TestModels.MeansRepo(f.Dir.Sub(name))));
        Assert.True(code == HttpStatusCode.Created, created.ToJsonString());
        var info = await WaitWhileBuilding(c, name);
        return info["accuracy_check"] ?? throw new Xunit.Sdk.XunitException($"no accuracy_check in {info}");
    }

    [Fact]
    public async Task AGpuServiceReportsItsEngineAgainstTheCpuReference()
    {
        f.Engine = new TensorScoresBackend("fake-gpu");
        var report = await ReportOf("acc-ok");
        Assert.Equal("fake-cpu", (string?)report["reference"]);
        Assert.Equal(AccuracyCheck.Items, (int?)report["items"]);
        Assert.Equal(0.0, (double?)report["rel_l2"]);
        Assert.Equal("4/4", (string?)report["top1"]);
        Assert.True((bool?)report["within_budget"]);
    }

    [Fact]
    public async Task AnEngineThatOutputsNaNIsReportedOutsideTheBudget()
    {
        f.Engine = new TensorScoresBackend("fake-gpu", poison: true);
        var report = await ReportOf("acc-nan");
        Assert.Equal(AccuracyCheck.Items, (long?)report["non_finite"]);
        Assert.Null(report["rel_l2"]);   // no finite relative error: the count says why
        Assert.False((bool?)report["within_budget"]);
    }
}
