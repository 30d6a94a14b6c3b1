using System.Net;
using TrtNative;
using Microsoft.Extensions.DependencyInjection;
using TrtNative.Server.Inference;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>
/// Records what a backend is given and whether the model can be built from it without the file: the model file is
/// moved away while the backend reads the graph, so a second read of the file would fail.
/// </summary>
public sealed class ModelCapturingFactory(ServerOptions o, IInferenceBackend be) : BackendFactory(o)
{
    public BackendSpec? Spec { get; private set; }
    public int GraphNodes { get; private set; } = -1;
    public ManualResetEventSlim Created { get; } = new(false);

    public override IInferenceBackend Create(BackendKind kind, BackendSpec spec)
    {
        Spec = spec;
        string away = spec.ModelPath + ".away";
        File.Move(spec.ModelPath, away);
        try
        {
            GraphNodes = spec.Model.Onnx.Graph.Nodes.Count; // what the GPU backend builds from
        }
        finally
        {
            File.Move(away, spec.ModelPath);
            Created.Set();
        }
        return be;
    }
}

public sealed class ModelLoadServerFactory : ServerFactory
{
    public ModelCapturingFactory? Factory { get; private set; }
    public ModelLoadServerFactory() =>
        TestServices = s => s.AddSingleton<BackendFactory>(sp =>
            Factory = new ModelCapturingFactory(sp.GetRequiredService<ServerOptions>(), new NonFiniteBackend(16)));
}

public class ModelLoadTests(ModelLoadServerFactory f) : IClassFixture<ModelLoadServerFactory>
{
    [Fact]
    public async Task TheServiceLoadsTheModelOnceAndKeepsOnlyItsHashAndSignature()
    {
        var c = f.CreateClient();
        string repo = TestModels.MeansRepo(f.Dir.Sub("once"));
        var (code, _) = await Put(c, "/services/once", MeansService(repo));
        Assert.Equal(HttpStatusCode.Created, code);
        Assert.True(f.Factory!.Created.Wait(TimeSpan.FromSeconds(20)));

        var spec = f.Factory.Spec!;
        var onnx = spec.Model.Onnx;
        // The backend built its graph from the load made at service creation, with the file out of the way.
        Assert.True(f.Factory.GraphNodes > 0, $"graph nodes: {f.Factory.GraphNodes}");
        Assert.Equal(TrtNative.Runtime.ModelHash.Compute(spec.ModelPath), onnx.ContentHash);
        Assert.Equal(Path.GetFullPath(spec.ModelPath), onnx.Path);
        Assert.Equal(spec.Model.Input.Name, Assert.Single(onnx.Inputs).Name);

        // Once the backend exists the service drops the weights; asking for the graph again is an error, not a re-read.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                _ = onnx.Graph;
            }
            catch (InvalidOperationException e)
            {
                Assert.Contains("released", e.Message);
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, "the service kept the model's weights after its backend was created");
            await Task.Delay(20);
        }
    }
}

/// <summary>What the GPU backend does with a plan in the repository that it cannot use: it rebuilds.</summary>
public class PlanRebuildTests
{
    private static (TrtNative.Runtime.Engine? Engine, string Source, List<string> Log) Try(byte[] plan, TrtNative.Runtime.PlanExpectations? want = null)
    {
        string path = Path.Combine(Path.GetTempPath(), $"trtn-plan-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, plan);
        var log = new List<string>();
        try
        {
            var (engine, source) = TrtNativeGpuBackend.LoadPlanOrRebuild(path, p =>
            {
                TrtNative.Runtime.PlanFile.Read(p, want);
                throw new InvalidOperationException("the plan was accepted");
            }, log.Add);
            return (engine, source, log);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void APlanOfAnOlderFormatVersionIsRebuilt()
    {
        var plan = "TRTNPLAN"u8.ToArray().Concat(new byte[] { 1, 0, 0, 0 }).Concat(new byte[64]).ToArray();
        var (engine, source, log) = Try(plan);
        Assert.Null(engine);
        Assert.Equal("rebuilt (StalePlan)", source);
        var line = Assert.Single(log);
        Assert.Contains("format version 1", line);
        Assert.Contains("rebuild the engine", line);
    }

    [Fact]
    public void AForeignFileIsRebuilt()
    {
        var (engine, source, log) = Try("not a plan at all"u8.ToArray());
        Assert.Null(engine);
        Assert.Equal("rebuilt (CorruptPlan)", source);
        Assert.Contains("bad magic", Assert.Single(log));
    }

    [Fact]
    public void OtherFailuresAreNotHiddenByARebuild()
    {
        string path = Path.Combine(Path.GetTempPath(), $"trtn-plan-{Guid.NewGuid():N}");
        var e = Assert.Throws<TrtNativeException>(() => TrtNativeGpuBackend.LoadPlanOrRebuild(path,
            _ => throw new TrtNativeException(ErrorCode.OutOfMemory, "no memory"), null));
        Assert.Equal(ErrorCode.OutOfMemory, e.Code);
    }
}
