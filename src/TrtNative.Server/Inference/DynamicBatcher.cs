using System.Diagnostics;
using System.Threading.Channels;

namespace TrtNative.Server.Inference;

/// <summary>Thrown when a service's queue is full; reported as 409/1008.</summary>
public sealed class QueueFullException(string message) : Exception(message);

/// <summary>
/// Fails one item whose scores hold a NaN or an infinity (the other items of its batch are delivered as usual).
/// <see cref="ItemIndex"/> is the item's position in the list its request submitted.
/// </summary>
public sealed class NonFiniteOutputException(int itemIndex, int score, float value)
    : Exception($"the model produced a non-finite score ({value.ToString(System.Globalization.CultureInfo.InvariantCulture)} at class {score}) for item {itemIndex} of the request")
{
    /// <summary>The item's index within its request.</summary>
    public int ItemIndex { get; } = itemIndex;
}

/// <summary>
/// The batching queue in front of a service's replicas (<see cref="ReplicaSet"/>; one backend is a set of one): items
/// from concurrent predicts are merged into batches of up to the backend's max batch; a batch closes when full, when
/// its first item has waited the max delay, or at once when nothing else is on its way (the queue is empty and no
/// request has announced images with <see cref="Expect"/>): a lone predict goes straight through instead of waiting
/// the delay for company that cannot come. One loop forms the batches, once a replica can take one, and dispatches
/// each to the least-loaded healthy replica, whose own worker runs it (so replicas run concurrently, and each backend
/// sees one call at a time). Each item's result is completed on its own task, so every request gets exactly its own
/// scores; an item whose scores hold a NaN or an infinity fails alone (<see cref="NonFiniteOutputException"/>).
/// </summary>
public sealed class DynamicBatcher : IAsyncDisposable
{
    private sealed record Item(PreparedImage Input, TaskCompletionSource<float[]> Done, long EnqueuedAt, int Index);

    private readonly ReplicaSet _replicas;
    private readonly Channel<Item> _queue;
    private readonly TimeSpan _maxDelay;
    private readonly int _itemSize;
    private readonly Task _loop;
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<int, double[], double>? _onBatch;
    private readonly Action<int>? _onNonFinite;
    private readonly int _capacity;
    private int _expected; // images announced by requests still being decoded
    private int _forming;  // 1 while the loop forms a batch (its items are out of the queue, not yet dispatched)
    private long _batches;
    private volatile bool _closed;

    /// <param name="backend">Runs the batches (a replica set of one).</param>
    /// <param name="itemSize">Pixel bytes per image item, tensor values per tensor item (H × W × C).</param>
    /// <param name="maxDelay">Longest wait of a batch's first item for others.</param>
    /// <param name="capacity">Items that may wait; more are refused.</param>
    /// <param name="onBatch">Called after each batch with its size, each item's queue time and the backend's run time, in seconds.</param>
    /// <param name="onNonFinite">Called after a batch in which some items' scores held a NaN or an infinity, with their count (those items fail with <see cref="NonFiniteOutputException"/>).</param>
    public DynamicBatcher(IInferenceBackend backend, int itemSize, TimeSpan maxDelay, int capacity, Action<int, double[], double>? onBatch = null,
        Action<int>? onNonFinite = null)
        : this(ReplicaSet.Single(backend), itemSize, maxDelay, capacity, onBatch, onNonFinite)
    {
    }

    /// <param name="replicas">Run the batches; the batcher starts their workers and stops them at dispose (their backends stay).</param>
    /// <param name="itemSize">Pixel bytes per image item, tensor values per tensor item (H × W × C).</param>
    /// <param name="maxDelay">Longest wait of a batch's first item for others.</param>
    /// <param name="capacity">Items that may wait; more are refused.</param>
    /// <param name="onBatch">Called after each batch (from the worker of the replica that ran it) with its size, each item's queue time and the run time, in seconds.</param>
    /// <param name="onNonFinite">Called after a batch in which some items' scores held a NaN or an infinity, with their count.</param>
    public DynamicBatcher(ReplicaSet replicas, int itemSize, TimeSpan maxDelay, int capacity, Action<int, double[], double>? onBatch = null,
        Action<int>? onNonFinite = null)
    {
        _replicas = replicas;
        _itemSize = itemSize;
        _maxDelay = maxDelay;
        _onBatch = onBatch;
        _onNonFinite = onNonFinite;
        _capacity = capacity;
        _queue = Channel.CreateBounded<Item>(new BoundedChannelOptions(capacity) { SingleReader = false, FullMode = BoundedChannelFullMode.Wait });
        _replicas.Start(() => Volatile.Read(ref _forming) != 0 || _queue.Reader.Count > 0);
        _loop = Task.Factory.StartNew(() => LoopAsync(_stop.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>
    /// Announces <paramref name="images"/> images that a request will submit soon (it is still reading and decoding
    /// them): while any are announced, a batch waits (up to the max delay) for them. Dispose the result when the
    /// images are submitted or the request gives up; disposing twice is harmless.
    /// </summary>
    public IDisposable Expect(int images) => new Expectation(this, images);

    private sealed class Expectation : IDisposable
    {
        private DynamicBatcher? _owner;
        private readonly int _n;
        public Expectation(DynamicBatcher owner, int n)
        {
            _owner = owner;
            _n = n;
            Interlocked.Add(ref owner._expected, n);
        }
        public void Dispose()
        {
            var o = Interlocked.Exchange(ref _owner, null);
            if (o != null) Interlocked.Add(ref o._expected, -_n);
        }
    }

    /// <summary>Number of batches run so far.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>
    /// Queues one request's items; the returned scores are in the same order. <paramref name="expectation"/> (from
    /// <see cref="Expect"/>, for these items) is released here, before the items are written.
    /// </summary>
    /// <remarks>
    /// Each item stops counting as expected just <em>before</em> it is written: the loop, woken by the write, then
    /// sees the true count. Releasing after the write could make the loop wait the full delay for an item it already
    /// holds; releasing before can at worst let the loop close a batch a moment before the item lands (it then goes
    /// into the next batch).
    /// </remarks>
    public Task<float[][]> SubmitAsync(IReadOnlyList<PreparedImage> items, IDisposable? expectation = null)
    {
        var tasks = new Task<float[]>[items.Count];
        long now = Stopwatch.GetTimestamp();
        // This request's unwritten items count as expected, so the loop does not close a batch between them.
        int unwritten = items.Count;
        Interlocked.Add(ref _expected, unwritten);
        expectation?.Dispose();
        try
        {
            for (int i = 0; i < items.Count; i++)
            {
                // C × H × W either way: pixel bytes of an image (the bytes an encoded JPEG will give), floats of a tensor.
                int size = items[i].Tensor?.Length ?? items[i].Jpeg?.PixelBytes ?? items[i].Pixels.Length;
                if (size != _itemSize) throw new ArgumentException($"item {i} has {size} {(items[i].Tensor != null ? "tensor values" : "pixel bytes")}, expected {_itemSize}");
                if (items[i].Jpeg != null && !_replicas.DecodesJpeg)
                    throw new ArgumentException($"item {i} is an encoded JPEG, but backend {_replicas.Kind} takes decoded pixels only");
                var tcs = new TaskCompletionSource<float[]>(TaskCreationOptions.RunContinuationsAsynchronously);
                unwritten--;
                Interlocked.Decrement(ref _expected);
                if (!_queue.Writer.TryWrite(new Item(items[i], tcs, now, i)))
                {
                    if (_closed) throw new ObjectDisposedException("service", "the service was deleted");
                    // Items already queued still run; their results are dropped.
                    throw new QueueFullException($"the service queue is full ({_capacity} images waiting); retry later");
                }
                tasks[i] = tcs.Task;
            }
        }
        finally
        {
            if (unwritten > 0) Interlocked.Add(ref _expected, -unwritten);
        }
        return Task.WhenAll(tasks);
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        var reader = _queue.Reader;
        try
        {
            while (true)
            {
                if (!await reader.WaitToReadAsync(stop)) break;
                // A batch is formed only once a replica can take it: meanwhile items keep arriving and the batch grows.
                await _replicas.WaitForSlotAsync(stop);
                Volatile.Write(ref _forming, 1);
                try
                {
                    var batch = await FormBatchAsync(reader, stop);
                    if (batch.Count > 0) _replicas.Dispatch(new Batch(this, batch));
                }
                finally
                {
                    Volatile.Write(ref _forming, 0);
                    // Workers holding a finished batch until this one came look again.
                    _replicas.Poke();
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        while (reader.TryRead(out var left))
            left.Done.TrySetException(new ObjectDisposedException("service", "the service was deleted"));
    }

    // Takes the first queued item and closes the batch when full, when the first item has waited the max delay, or
    // at once when nothing more is queued or announced. Empty only if the queued item vanished.
    private async Task<List<Item>> FormBatchAsync(ChannelReader<Item> reader, CancellationToken stop)
    {
        var batch = new List<Item>(Math.Min(_replicas.MaxBatchSize, 64));
        if (!reader.TryRead(out var first)) return batch;
        batch.Add(first);
        long deadline = first.EnqueuedAt + (long)(_maxDelay.TotalSeconds * Stopwatch.Frequency);
        while (batch.Count < _replicas.MaxBatchSize)
        {
            if (reader.TryRead(out var it)) { batch.Add(it); continue; }
            // Nothing queued and nothing announced: waiting cannot fill the batch, so run it now.
            if (Volatile.Read(ref _expected) <= 0) break;
            long left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0) break;
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(stop);
            cts.CancelAfter(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
            try
            {
                if (!await reader.WaitToReadAsync(cts.Token)) break;
            }
            catch (OperationCanceledException)
            {
                // The delay ran out, or the queue is being disposed: the items taken so far are out of the queue, so
                // they run now (the replicas stop only after this loop) instead of being dropped unanswered.
                break;
            }
        }
        return batch;
    }

    // A formed batch as the replicas see it: its items' inputs, and their completion.
    private sealed class Batch(DynamicBatcher owner, List<Item> items) : ReplicaBatch(InputsOf(items))
    {
        private long _start;
        private double[] _waits = [];

        private static List<PreparedImage> InputsOf(List<Item> items)
        {
            var inputs = new List<PreparedImage>(items.Count);
            foreach (var it in items) inputs.Add(it.Input);
            return inputs;
        }

        public override void Starting(long timestamp)
        {
            _start = timestamp;
            _waits = QueueTimes(items, timestamp);
        }

        public override void Deliver(float[] scores, Replica replica, IReadOnlyList<Exception?>? itemErrors = null)
        {
            try
            {
                owner.Deliver(items, scores, _start, _waits, itemErrors);
            }
            catch (Exception e)
            {
                Fail(e);
            }
        }

        public override void Fail(Exception error)
        {
            foreach (var it in items) it.Done.TrySetException(error);
        }
    }

    private static double[] QueueTimes(List<Item> batch, long start)
    {
        var waits = new double[batch.Count];
        for (int i = 0; i < batch.Count; i++) waits[i] = (double)(start - batch[i].EnqueuedAt) / Stopwatch.Frequency;
        return waits;
    }

    private void Deliver(List<Item> batch, float[] y, long start, double[] waits, IReadOnlyList<Exception?>? itemErrors = null)
    {
        double runSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        int per = y.Length / batch.Count;
        Interlocked.Increment(ref _batches);
        _onBatch?.Invoke(batch.Count, waits, runSeconds);
        int nonFinite = 0;
        for (int i = 0; i < batch.Count; i++)
        {
            // An image no decoder could read fails alone; its neighbours' scores are unaffected.
            if (itemErrors?[i] is { } unreadable)
            {
                batch[i].Done.TrySetException(new UnreadableImageException(batch[i].Index, unreadable.Message, unreadable));
                continue;
            }
            var scores = y.AsSpan(i * per, per);
            // A NaN or an infinity is never a prediction: that item fails, its neighbours in the batch do not.
            int bad = FirstNonFinite(scores);
            if (bad < 0)
            {
                batch[i].Done.TrySetResult(scores.ToArray());
                continue;
            }
            nonFinite++;
            batch[i].Done.TrySetException(new NonFiniteOutputException(batch[i].Index, bad, scores[bad]));
        }
        if (nonFinite > 0) _onNonFinite?.Invoke(nonFinite);
    }

    private static int FirstNonFinite(ReadOnlySpan<float> scores)
    {
        for (int k = 0; k < scores.Length; k++)
            if (!float.IsFinite(scores[k])) return k;
        return -1;
    }

    /// <summary>Stops the loop, then the replicas' workers once they have run what they hold; waiting items fail.</summary>
    public async ValueTask DisposeAsync()
    {
        _closed = true;
        _queue.Writer.TryComplete();
        _stop.Cancel();
        try { await _loop; } catch { /* loop faults are already reported per item */ }
        await _replicas.StopAsync();
        _stop.Dispose();
    }
}
