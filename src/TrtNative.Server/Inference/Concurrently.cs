using System.Runtime.ExceptionServices;

namespace TrtNative.Server.Inference;

/// <summary>A few pieces of work run at once, failing with the first failure's own exception.</summary>
internal static class Concurrently
{
    /// <summary>
    /// Runs <paramref name="body"/> for 0..<paramref name="count"/>-1 at once (the calling thread takes part). A failure
    /// comes out as the failing iteration's own exception, not an AggregateException: callers decide by its type whether
    /// a device failed (ReplicaSet.IsDeviceFailure).
    /// </summary>
    public static void For(int count, Action<int> body)
    {
        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, count) }, body);
        }
        catch (AggregateException e)
        {
            ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
        }
    }
}
