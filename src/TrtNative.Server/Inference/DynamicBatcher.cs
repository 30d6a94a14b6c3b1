using System.Diagnostics;
using System.Threading.Channels;

namespace TrtNative.Server.Inference;

/// <summary>Thrown when a service's queue is full; reported as 409/1008.</summary>
public sealed class QueueFullException(string message) : Exception(message);

/// <summary>
/// The batching queue in front of one backend: items from concurrent predicts are merged into batches of up to
/// the backend's max batch; a batch closes when full or when its first item has waited the max delay. One loop
/// per service calls the backend, so the backend sees one batch at a time. Each item's result is completed
/// on its own task, so every request gets exactly its own scores.
/// </summary>
public sealed class DynamicBatcher : IAsyncDisposable
{
    private sealed record Item(float[] Input, TaskCompletionSource<float[]> Done, long EnqueuedAt);

    private readonly IInferenceBackend _backend;
    private readonly Channel<Item> _queue;
    private readonly TimeSpan _maxDelay;
    private readonly int _itemSize;
    private readonly Task _loop;
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<int, double[]>? _onBatch;
    private readonly int _capacity;

    /// <param name="backend">Runs the batches.</param>
    /// <param name="itemSize">Floats per item (C × H × W).</param>
    /// <param name="maxDelay">Longest wait of a batch's first item for others.</param>
    /// <param name="capacity">Items that may wait; more are refused.</param>
    /// <param name="onBatch">Called after each batch with its size and each item's queue time in seconds.</param>
    public DynamicBatcher(IInferenceBackend backend, int itemSize, TimeSpan maxDelay, int capacity, Action<int, double[]>? onBatch = null)
    {
        _backend = backend;
        _itemSize = itemSize;
        _maxDelay = maxDelay;
        _onBatch = onBatch;
        _capacity = capacity;
        _queue = Channel.CreateBounded<Item>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _loop = Task.Factory.StartNew(() => LoopAsync(_stop.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Number of batches run so far.</summary>
    public long Batches { get; private set; }

    /// <summary>Queues one request's items; the returned scores are in the same order.</summary>
    public Task<float[][]> SubmitAsync(IReadOnlyList<float[]> items)
    {
        var tasks = new Task<float[]>[items.Count];
        long now = Stopwatch.GetTimestamp();
        for (int i = 0; i < items.Count; i++)
        {
            if (items[i].Length != _itemSize) throw new ArgumentException($"item {i} has {items[i].Length} floats, expected {_itemSize}");
            var tcs = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_queue.Writer.TryWrite(new Item(items[i], tcs, now)))
            {
                // Items already queued still run; their results are dropped.
                throw new QueueFullException($"the service queue is full ({_capacity} images waiting); retry later");
            }
            tasks[i] = tcs.Task;
        }
        return Task.WhenAll(tasks);
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        var batch = new List<Item>(_backend.MaxBatchSize);
        var reader = _queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stop))
            {
                batch.Clear();
                if (!reader.TryRead(out var first)) continue;
                batch.Add(first);
                long deadline = first.EnqueuedAt + (long)(_maxDelay.TotalSeconds * Stopwatch.Frequency);
                while (batch.Count < _backend.MaxBatchSize)
                {
                    if (reader.TryRead(out var it)) { batch.Add(it); continue; }
                    long left = deadline - Stopwatch.GetTimestamp();
                    if (left <= 0) break;
                    using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
                    cts.CancelAfter(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
                    try
                    {
                        if (!await reader.WaitToReadAsync(cts.Token)) break;
                    }
                    catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                    {
                        break;
                    }
                }
                RunBatch(batch);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        while (reader.TryRead(out var left))
            left.Done.TrySetException(new ObjectDisposedException("service", "the service was deleted"));
    }

    private void RunBatch(List<Item> batch)
    {
        long start = Stopwatch.GetTimestamp();
        var waits = new double[batch.Count];
        for (int i = 0; i < batch.Count; i++) waits[i] = (double)(start - batch[i].EnqueuedAt) / Stopwatch.Frequency;
        try
        {
            var input = new float[batch.Count * _itemSize];
            for (int i = 0; i < batch.Count; i++) batch[i].Input.CopyTo(input, i * _itemSize);
            var y = _backend.Run(input, batch.Count);
            int per = y.Length / batch.Count;
            Batches++;
            _onBatch?.Invoke(batch.Count, waits);
            for (int i = 0; i < batch.Count; i++) batch[i].Done.TrySetResult(y.AsSpan(i * per, per).ToArray());
        }
        catch (Exception e)
        {
            foreach (var it in batch) it.Done.TrySetException(e);
        }
    }

    /// <summary>Stops the loop; waiting items fail.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _stop.Cancel();
        try { await _loop; } catch { /* loop faults are already reported per item */ }
        _stop.Dispose();
    }
}
