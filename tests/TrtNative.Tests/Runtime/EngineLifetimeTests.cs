using System.Runtime.InteropServices;
using TrtNative.Cuda;
using TrtNative.Tests.Cuda;
using Xunit;

namespace TrtNative.Tests.Runtime;

/// <summary>
/// The handle graph an <c>Engine</c> and its <c>EngineContext</c>s build, checked without a GPU: recording handles
/// stand in for the CUDA context, the weights, the native engine, each native context and its activation arena,
/// wired exactly as Engine and EngineContext wire them (parent = CUDA context; the engine keeps the weights alive;
/// a context keeps the engine and its arena alive). Every order in which the owners dispose must free each native
/// object exactly once, and only after everything that uses it.
/// </summary>
[Collection("CudaDiagnostics")]
public class EngineLifetimeTests
{
    private sealed class EngineGraph
    {
        public readonly List<string> Log = new();
        public readonly RecordingHandle Cuda, Weights, Engine;
        public readonly RecordingHandle[] Contexts, Arenas;

        public EngineGraph(int contexts)
        {
            Cuda = new RecordingHandle(null, Log, "cuda");
            Weights = new RecordingHandle(Cuda, Log, "weights");
            Engine = new RecordingHandle(Cuda, Log, "engine");       // NativeEngineHandle.Create
            Engine.KeepAlive(Weights);
            Contexts = new RecordingHandle[contexts];
            Arenas = new RecordingHandle[contexts];
            for (int i = 0; i < contexts; i++)
            {
                Arenas[i] = new RecordingHandle(Cuda, Log, $"arena{i}");
                Contexts[i] = new RecordingHandle(Cuda, Log, $"context{i}"); // NativeContextHandle.Create
                Contexts[i].KeepAlive(Engine);
                Contexts[i].KeepAlive(Arenas[i]);
            }
        }

        /// <summary>What each public owner's Dispose does to the handles.</summary>
        public void Dispose(string owner)
        {
            switch (owner)
            {
                case "CudaContext": Cuda.Release(); break;
                case "Engine": Engine.Release(); Weights.Release(); break;
                default:
                    int i = int.Parse(owner.AsSpan("EngineContext".Length));
                    Contexts[i].Release();
                    Arenas[i].Release();
                    break;
            }
        }
    }

    private static IEnumerable<string[]> Permutations(string[] items)
    {
        if (items.Length <= 1) { yield return items; yield break; }
        for (int i = 0; i < items.Length; i++)
            foreach (var rest in Permutations(items.Where((_, j) => j != i).ToArray()))
                yield return [items[i], .. rest];
    }

    [Fact]
    public void EveryDisposeOrderFreesEachObjectOnceAndOnlyAfterItsUsers()
    {
        string[] owners = ["CudaContext", "Engine", "EngineContext0", "EngineContext1"];
        int orders = 0;
        foreach (var order in Permutations(owners))
        {
            orders++;
            var g = new EngineGraph(contexts: 2);
            var gone = new HashSet<string>();
            foreach (var owner in order)
            {
                g.Dispose(owner);
                gone.Add(owner);
                string at = $"order {string.Join(" > ", order)}, after {owner}";
                bool ctx0 = gone.Contains("EngineContext0"), ctx1 = gone.Contains("EngineContext1");
                bool engineFree = gone.Contains("Engine") && ctx0 && ctx1;
                Assert.True(ctx0 == g.Log.Contains("context0") && ctx0 == g.Log.Contains("arena0"), at + ": context0/arena0");
                Assert.True(ctx1 == g.Log.Contains("context1") && ctx1 == g.Log.Contains("arena1"), at + ": context1/arena1");
                Assert.True(engineFree == g.Log.Contains("engine"), at + ": engine freed " + g.Log.Contains("engine") + ", expected " + engineFree);
                Assert.True(engineFree == g.Log.Contains("weights"), at + ": weights freed " + g.Log.Contains("weights") + ", expected " + engineFree);
                Assert.True(gone.Count == owners.Length == g.Log.Contains("cuda"), at + ": CUDA context");
            }
            var log = g.Log;
            Assert.Equal(7, log.Count);
            Assert.Equal(7, log.Distinct().Count());
            int I(string n) => log.IndexOf(n);
            Assert.True(I("context0") < I("arena0") && I("context1") < I("arena1"), string.Join(",", log));
            Assert.True(I("context0") < I("engine") && I("context1") < I("engine"), string.Join(",", log));
            Assert.True(I("engine") < I("weights"), string.Join(",", log));
            Assert.Equal("cuda", log[^1]);
        }
        Assert.Equal(24, orders);
    }

    [Fact]
    public void NativeCallInFlightKeepsTheContextsArenaUntilItReturns()
    {
        var g = new EngineGraph(contexts: 1);
        bool added = false;
        g.Contexts[0].DangerousAddRef(ref added); // what the interop marshaller does around a call
        Assert.True(added);
        g.Dispose("EngineContext0");
        g.Dispose("Engine");
        Assert.Empty(g.Log); // the call still runs on the native context, its arena and the weights
        g.Contexts[0].DangerousRelease();
        Assert.Equal(["context0", "arena0", "engine", "weights"], g.Log);
        g.Dispose("CudaContext");
        Assert.Equal("cuda", g.Log[^1]);
    }

    [Fact]
    public void NoContextCanBeMadeFromADisposedEngineAndTheFailedOneHoldsNothing()
    {
        var g = new EngineGraph(contexts: 0);
        g.Dispose("Engine");
        Assert.Equal(["engine", "weights"], g.Log);
        var late = new RecordingHandle(g.Cuda, g.Log, "late-context");
        Assert.Throws<ObjectDisposedException>(() => late.KeepAlive(g.Engine));
        late.Abandon();
        g.Dispose("CudaContext");
        Assert.Equal(["engine", "weights", "cuda"], g.Log); // the abandoned context released its parent reference
    }

    [Fact]
    public void AbandonReleasesDependenciesButFreesNothingOfItsOwn()
    {
        var log = new List<string>();
        var cuda = new RecordingHandle(null, log, "cuda");
        var weights = new RecordingHandle(cuda, log, "weights");
        var engine = new RecordingHandle(cuda, log, "engine");
        engine.KeepAlive(weights);
        engine.Abandon(); // a native create that failed after the references were taken
        weights.Release();
        cuda.Release();
        Assert.Equal(["weights", "cuda"], log);
        Assert.True(engine.IsClosed);
    }
}
