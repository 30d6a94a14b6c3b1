using System.Runtime.CompilerServices;
using TrtNative.Cuda;
using Xunit;

namespace TrtNative.Tests.Cuda;

/// <summary>A handle whose native release only records its name in a shared log (no CUDA, no GPU).</summary>
internal sealed class RecordingHandle : CudaHandle
{
    public RecordingHandle(CudaHandle? parent, List<string> log, string name) : base(parent)
    {
        Log = log;
        Name = name;
        SetHandleValue(0x1000);
    }

    public List<string> Log { get; }
    public string Name { get; }
    internal override string Kind => "test handle " + Name;

    protected override CUresult ReleaseNative()
    {
        lock (Log)
            Log.Add(Name);
        return CUresult.CUDA_SUCCESS;
    }
}

/// <summary>Handle lifetime rules, checked without a GPU through a handle whose native release only records.</summary>
[Collection("CudaDiagnostics")]
public class CudaHandleTests
{
    [Fact]
    public void ChildKeepsParentAliveUntilItIsReleased()
    {
        var log = new List<string>();
        var parent = new RecordingHandle(null, log, "context");
        var child = new RecordingHandle(parent, log, "buffer");

        parent.Release();
        Assert.Empty(log); // the child still holds the parent
        child.Release();
        Assert.Equal(["buffer", "context"], log);

        child.Release(); // idempotent
        Assert.Equal(2, log.Count);
    }

    [Fact]
    public void AbandonedChildReleasesItsParentReferenceAndFreesNothing()
    {
        var log = new List<string>();
        var parent = new RecordingHandle(null, log, "context");
        var child = new RecordingHandle(parent, log, "failed-alloc");
        child.Abandon();
        parent.Release();
        Assert.Equal(["context"], log);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MakeGarbage(List<string> log)
    {
        var parent = new RecordingHandle(null, log, "leaked-context");
        _ = new RecordingHandle(parent, log, "leaked-buffer");
        // A real DeviceMemoryHandle with a fake pointer: its finalizer must not call cuMemFree (no driver here; a
        // call would throw on the finalizer thread and kill the process).
        var ctx = new ContextHandle(0);
        ctx.SetHandleValue(0x10);
        var mem = new DeviceMemoryHandle(ctx, 64);
        mem.SetHandleValue(0x2000);
    }

    [Fact]
    public void FinalizerCountsALeakAndNeverCallsNativeRelease()
    {
        var log = new List<string>();
        long before = CudaDiagnostics.LeakedAllocations;
        MakeGarbage(log);
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.Empty(log);
        // The two children leak; their parents stay referenced (a finalized child does not release its parent,
        // since that could run the context's release on the finalizer thread), so they are not released either.
        Assert.True(CudaDiagnostics.LeakedAllocations >= before + 2,
            $"expected at least 2 leaks counted, got {CudaDiagnostics.LeakedAllocations - before}");
        Assert.Contains("finalized without Dispose", CudaDiagnostics.LastProblem);
    }
}
