using System.Diagnostics;
using System.Threading.Channels;
using TrtNative;

namespace TrtNative.Server.Inference;

/// <summary>Where a replica stands.</summary>
public enum ReplicaState
{
    /// <summary>In rotation: batches are dispatched to it.</summary>
    Healthy,
    /// <summary>Out of rotation after a device error (or a failed build or restore); <see cref="Replica.Error"/> says which.</summary>
    Failed,
    /// <summary>Being rebuilt by a restore; out of rotation until it is healthy again.</summary>
    Restoring,
}

/// <summary>
/// One copy of a service's engine: a backend on one device (its own engine, execution contexts, streams and pinned
/// buffers), its state and what it has run. Its backend is only ever called from its own worker (see
/// <see cref="ReplicaSet"/>), one call at a time.
/// </summary>
public sealed class Replica
{
    internal Replica(int index, int? gpu, string device, IInferenceBackend? backend, string? error)
    {
        Index = index;
        Gpu = gpu;
        Device = device;
        Backend = backend;
        State = backend == null ? ReplicaState.Failed : ReplicaState.Healthy;
        Error = error;
    }

    /// <summary>Position in the service's list (dispatch ties go to the lower index).</summary>
    public int Index { get; }

    /// <summary>The GPU ordinal, or null for a CPU backend.</summary>
    public int? Gpu { get; }

    /// <summary>The device's name ("NVIDIA H100 80GB HBM3", or the backend kind for a CPU backend).</summary>
    public string Device { get; }

    /// <summary>The metrics label: the GPU ordinal, or "cpu".</summary>
    public string Label => Gpu?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "cpu";

    /// <summary>The backend; null while a failed build or restore left none.</summary>
    public IInferenceBackend? Backend { get; internal set; }

    /// <summary>Healthy, failed or restoring.</summary>
    public ReplicaState State { get; internal set; }

    /// <summary>Why it failed (the device error, or the build or restore failure); null when healthy.</summary>
    public string? Error { get; internal set; }

    /// <summary>Batches this replica delivered.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>Images in those batches.</summary>
    public long Images => Interlocked.Read(ref _images);

    /// <summary>Times it was taken out of rotation by a device error.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>Batches dispatched to it and not yet delivered or failed.</summary>
    public int InFlight { get; internal set; }

    internal long _batches, _images, _failures;
    internal readonly Channel<object> Inbox = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    internal Task Worker = Task.CompletedTask;

    // Batches a replica may hold before the batching loop waits: a pipelined backend stages batches while earlier ones
    // run (as many as it has in flight at most), a plain one runs one at a time.
    internal int Depth => Backend is IPipelinedBackend p ? Math.Max(1, p.MaxInFlight) : 1;
}

/// <summary>
/// A batch formed by the batching queue on its way to a replica: its inputs (read only while a replica runs it), and
/// where its scores or its failure go.
/// </summary>
public abstract class ReplicaBatch(IReadOnlyList<PreparedImage> inputs)
{
    /// <summary>The batch's items, in order.</summary>
    public IReadOnlyList<PreparedImage> Inputs { get; } = inputs;

    /// <summary>Replicas that failed with a device error while running it (it is retried once).</summary>
    internal int DeviceFailures;

    /// <summary>A replica starts running it (a <see cref="Stopwatch"/> timestamp); called again if it is retried.</summary>
    public abstract void Starting(long timestamp);

    /// <summary>
    /// Its scores (Inputs.Count × OutputSize), from <paramref name="replica"/>; <paramref name="itemErrors"/> names the
    /// items no decoder could read (see <see cref="IPendingBatch.ItemErrors"/>), null when every item was read.
    /// </summary>
    public abstract void Deliver(float[] scores, Replica replica, IReadOnlyList<Exception?>? itemErrors = null);

    /// <summary>It failed: every item gets <paramref name="error"/>.</summary>
    public abstract void Fail(Exception error);
}

/// <summary>Thrown to a batch's items when no replica can run it: every replica of the service is out of rotation.</summary>
public sealed class NoHealthyReplicaException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A service's replicas — one backend per listed GPU — behind its one batching queue. The queue forms batches as
/// for a single backend and hands each to <see cref="Dispatch"/>, which gives it to the healthy replica with the
/// fewest batches in flight (ties: the lower index). Every replica has its own worker that runs what it was given, so
/// the replicas run concurrently; a worker keeps today's pipelining (it stages its next batch while the previous one
/// runs, and delivers the previous one at once when nothing more is coming to it).
/// <para>
/// A device error (<see cref="IsDeviceFailure"/>) takes the replica out of rotation and retries the batch once on
/// another healthy replica, so a request does not fail because one GPU did while another is up; any other error
/// (a bad input) fails the batch's items as before. <see cref="RestoreAsync"/> rebuilds failed replicas in place.
/// </para>
/// </summary>
public sealed class ReplicaSet : IAsyncDisposable
{
    private readonly Replica[] _replicas;
    private readonly Func<Replica, IInferenceBackend>? _rebuild;
    private readonly Lock _lock = new();
    private TaskCompletionSource _changed = NewSignal();
    private Func<bool> _workPending = () => false;
    private bool _started, _closing;

    /// <param name="replicas">The replicas (at least one built).</param>
    /// <param name="rebuild">Makes a fresh backend for a replica (restore); null: replicas cannot be restored.</param>
    public ReplicaSet(IReadOnlyList<Replica> replicas, Func<Replica, IInferenceBackend>? rebuild = null)
    {
        if (replicas.Count == 0) throw new ArgumentException("a replica set needs at least one replica", nameof(replicas));
        _replicas = replicas.ToArray();
        _rebuild = rebuild;
        var first = _replicas.FirstOrDefault(r => r.Backend != null)?.Backend
            ?? throw new ArgumentException("no replica has a backend", nameof(replicas));
        Kind = first.Kind;
        MaxBatchSize = first.MaxBatchSize;
        OutputSize = first.OutputSize;
    }

    /// <summary>One replica around <paramref name="backend"/> (what a service on one device, or a test, has).</summary>
    public static ReplicaSet Single(IInferenceBackend backend, int? gpu = null) => new([new Replica(0, gpu, backend.Kind, backend, null)]);

    /// <summary>Called with the replica, the batch's size and (where the backend measures them) its stage times after each delivered batch.</summary>
    public Action<Replica, int, BatchStages?>? OnBatch { get; init; }

    /// <summary>Called when a device error takes a replica out of rotation.</summary>
    public Action<Replica, Exception>? OnFailed { get; init; }

    /// <summary>The replicas in index order.</summary>
    public IReadOnlyList<Replica> Replicas => _replicas;

    /// <summary>The backends' kind (the first built one's).</summary>
    public string Kind { get; }

    /// <summary>Largest batch (every replica runs the same model).</summary>
    public int MaxBatchSize { get; }

    /// <summary>Scores per item.</summary>
    public int OutputSize { get; }

    /// <summary>
    /// True when the replicas that have a backend decode JPEGs themselves (<see cref="IInferenceBackend.DecodesJpeg"/>):
    /// a batch of encoded JPEGs may then go to any of them. They are built alike, so they agree.
    /// </summary>
    public bool DecodesJpeg
    {
        get
        {
            // Asked once per predict: a plain loop, no list built.
            bool any = false;
            foreach (var r in _replicas)
            {
                if (r.Backend is not { } b) continue;
                if (!b.DecodesJpeg) return false;
                any = true;
            }
            return any;
        }
    }

    /// <summary>True while at least one replica is in rotation.</summary>
    public bool AnyHealthy
    {
        get { lock (_lock) return AnyHealthyLocked(); }
    }

    /// <summary>
    /// True for the errors that mean the device, not the batch, is at fault: a CUDA (or cuDNN/cuBLASLt) failure, a
    /// lost device, device memory exhausted at run time. A bad input, a shape error or a non-finite score is the
    /// batch's and never takes a replica out.
    /// </summary>
    public static bool IsDeviceFailure(Exception e) =>
        e is TrtNativeException { Code: ErrorCode.CudaError or ErrorCode.NoDevice or ErrorCode.OutOfMemory };

    /// <summary>
    /// Starts the workers. <paramref name="workPending"/> says whether the batching queue holds items or is forming a
    /// batch: a worker with a batch in flight delivers it at once unless the next batch is on its way to it.
    /// </summary>
    internal void Start(Func<bool> workPending)
    {
        lock (_lock)
        {
            if (_started) throw new InvalidOperationException("the replica set is already started");
            _started = true;
            _workPending = workPending;
        }
        foreach (var r in _replicas)
            r.Worker = Task.Factory.StartNew(() => WorkAsync(r), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Waits until a healthy replica can take a batch, or until none is healthy (the batch then fails at <see cref="Dispatch"/>).</summary>
    internal async ValueTask WaitForSlotAsync(CancellationToken ct)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (ChooseLocked(null, respectDepth: true) != null || !AnyHealthyLocked()) return;
                changed = _changed.Task;
            }
            await changed.WaitAsync(ct);
        }
    }

    /// <summary>Gives a formed batch to the least-loaded healthy replica; fails it when none is healthy.</summary>
    internal void Dispatch(ReplicaBatch batch) => DispatchExcept(batch, null);

    /// <summary>Wakes waiting workers and the batching loop to look again (the queue's pending work changed).</summary>
    internal void Poke() => Signal();

    private void DispatchExcept(ReplicaBatch batch, Replica? except)
    {
        Replica? r;
        lock (_lock)
        {
            // A retry may exceed a replica's depth: it is urgent, and the worker still runs one batch at a time.
            r = ChooseLocked(except, respectDepth: except == null) ?? ChooseLocked(except, respectDepth: false);
            if (r != null) r.InFlight++;
        }
        if (r == null)
        {
            batch.Fail(NoHealthy());
            return;
        }
        if (!r.Inbox.Writer.TryWrite(batch))
        {
            Release(r);
            batch.Fail(new ObjectDisposedException("service", "the service was deleted"));
            return;
        }
        Signal();
    }

    /// <summary>The error of a batch that no replica can take, naming each replica's failure.</summary>
    public NoHealthyReplicaException NoHealthy()
    {
        lock (_lock)
        {
            var why = string.Join("; ", _replicas.Select(r => $"{Name(r)}: {(r.State == ReplicaState.Restoring ? "restoring" : r.Error ?? r.State.ToString().ToLowerInvariant())}"));
            return new NoHealthyReplicaException(_replicas.Length == 1
                ? $"the service's only replica is out of rotation ({why})"
                : $"all {_replicas.Length} replicas of the service are out of rotation ({why})");
        }
    }

    private static string Name(Replica r) => r.Gpu is int g ? $"GPU {g} ({r.Device})" : r.Device;

    // The healthy replica with the fewest batches in flight (ties: lower index), below its depth when asked.
    private Replica? ChooseLocked(Replica? except, bool respectDepth)
    {
        Replica? best = null;
        foreach (var r in _replicas)
        {
            if (r == except || r.State != ReplicaState.Healthy || (respectDepth && r.InFlight >= r.Depth)) continue;
            if (best == null || r.InFlight < best.InFlight) best = r;
        }
        return best;
    }

    private bool AnyHealthyLocked() => _replicas.Any(r => r.State == ReplicaState.Healthy);

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private void Signal()
    {
        TaskCompletionSource old;
        lock (_lock)
        {
            old = _changed;
            _changed = NewSignal();
        }
        old.TrySetResult();
    }

    private Task Changed
    {
        get { lock (_lock) return _changed.Task; }
    }

    private void Release(Replica r)
    {
        lock (_lock) r.InFlight--;
        Signal();
    }

    private sealed record Started(ReplicaBatch Batch, IPendingBatch Pending);

    private sealed record RestoreRequest(TaskCompletionSource Done);

    // One replica's loop: the single batching loop's run/pipeline logic, fed with formed batches. Batches in flight
    // are delivered in the order they were submitted.
    private async Task WorkAsync(Replica r)
    {
        var inbox = r.Inbox.Reader;
        var inflight = new Queue<Started>();
        while (true)
        {
            if (inflight.Count > 0 && !inbox.TryPeek(out _))
            {
                // A backend that can tell when a batch's work is done: the batch is delivered as soon as it is, and a
                // batch that arrives before then is staged first. Waiting in Complete instead would hold back a batch
                // formed meanwhile until the device is idle (on the H100 the server's batches then ran one after the
                // other: decoding plus engine time each, instead of one batch's decoding under the other's engine).
                var oldest = inflight.Peek();
                bool? done = QueryDone(oldest.Pending);
                if (done is not null)
                {
                    if (done == true || await DoneBeforeNextAsync(oldest.Pending, inbox)) Finish(r, inflight.Dequeue());
                    continue;
                }
                // Captured before looking: a change after the look still wakes this wait.
                var changed = Changed;
                // The queue's pending work is read before the inbox again: if nothing was pending then, a batch that
                // lands in the inbox later comes from new work, and delivering first is what a single loop did too.
                if (!NextComesHere(r))
                {
                    if (!inbox.TryPeek(out _)) Finish(r, inflight.Dequeue());
                    continue;
                }
                await Task.WhenAny(inbox.WaitToReadAsync().AsTask(), changed);
                continue;
            }
            if (!await inbox.WaitToReadAsync()) break;
            if (!inbox.TryRead(out var msg)) continue;
            if (msg is RestoreRequest restore)
            {
                while (inflight.Count > 0) Finish(r, inflight.Dequeue());
                Restore(r, restore);
                continue;
            }
            var batch = (ReplicaBatch)msg;
            if (r.State != ReplicaState.Healthy || r.Backend is not { } backend)
            {
                // Queued before this replica failed: it goes to another one (not a retry: it never ran here).
                Release(r);
                DispatchExcept(batch, r);
                continue;
            }
            if (backend is not IPipelinedBackend pipelined)
            {
                RunBatch(r, backend, batch);
                continue;
            }
            // Stage and queue this batch while the earlier ones still run; with the backend's limit reached, deliver the
            // oldest (the next batch needs its staging set).
            if (Start(r, pipelined, batch) is { } started) inflight.Enqueue(started);
            while (inflight.Count >= pipelined.MaxInFlight) Finish(r, inflight.Dequeue());
        }
        while (inflight.Count > 0) Finish(r, inflight.Dequeue());
    }

    // The batch's IsDone; a failing query (a device error) counts as done, so that Finish reports it through Complete.
    private static bool? QueryDone(IPendingBatch pending)
    {
        try
        {
            return pending.IsDone;
        }
        catch (Exception)
        {
            return true;
        }
    }

    // Polls until the batch's work is done (true) or something lands in the inbox (false), whichever comes first. The
    // wait spins, as the driver's own event synchronisation does.
    private static async ValueTask<bool> DoneBeforeNextAsync(IPendingBatch pending, ChannelReader<object> inbox)
    {
        var spin = new SpinWait();
        while (true)
        {
            if (inbox.TryPeek(out _)) return false;
            if (QueryDone(pending) != false) return true;
            if (spin.NextSpinWillYield)
            {
                // Let other work run on this pool thread now and then; the next look comes right after.
                await Task.Yield();
                spin.Reset();
            }
            else
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
        }
    }

    // Whether the batching queue has work and would give its next batch to this replica.
    private bool NextComesHere(Replica r)
    {
        if (!_workPending()) return false;
        lock (_lock) return ChooseLocked(null, respectDepth: true) == r;
    }

    private void RunBatch(Replica r, IInferenceBackend backend, ReplicaBatch batch)
    {
        batch.Starting(Stopwatch.GetTimestamp());
        float[] y;
        try
        {
            y = backend.Run(batch.Inputs);
        }
        catch (Exception e)
        {
            Failed(r, batch, e);
            return;
        }
        Completed(r, batch, y);
    }

    private Started? Start(Replica r, IPipelinedBackend backend, ReplicaBatch batch)
    {
        batch.Starting(Stopwatch.GetTimestamp());
        try
        {
            return new Started(batch, backend.Submit(batch.Inputs));
        }
        catch (Exception e)
        {
            Failed(r, batch, e);
            return null;
        }
    }

    private void Finish(Replica r, Started s)
    {
        float[] y;
        try
        {
            y = s.Pending.Complete();
        }
        catch (Exception e)
        {
            Failed(r, s.Batch, e);
            return;
        }
        Completed(r, s.Batch, y, s.Pending.ItemErrors, s.Pending.Stages);
    }

    private void Completed(Replica r, ReplicaBatch batch, float[] y, IReadOnlyList<Exception?>? itemErrors = null, BatchStages? stages = null)
    {
        // Counted before the items complete: a client that has its answer sees the batch in the replica's counts.
        Interlocked.Increment(ref r._batches);
        Interlocked.Add(ref r._images, batch.Inputs.Count);
        Notify(() => OnBatch?.Invoke(r, batch.Inputs.Count, stages));
        Release(r);
        batch.Deliver(y, r, itemErrors);
    }

    // The observers (metrics, logs) run on a replica's worker: one that throws must not stop the worker, which would
    // leave every later batch sent to this replica unanswered.
    private static void Notify(Action observer)
    {
        try
        {
            observer();
        }
        catch (Exception e)
        {
            System.Diagnostics.Trace.TraceError($"replica observer failed: {e}");
        }
    }

    private void Failed(Replica r, ReplicaBatch batch, Exception e)
    {
        if (!IsDeviceFailure(e))
        {
            Release(r);
            batch.Fail(e);
            return;
        }
        bool first = false;
        lock (_lock)
        {
            r.InFlight--;
            if (r.State == ReplicaState.Healthy)
            {
                r.State = ReplicaState.Failed;
                r.Error = e.Message;
                first = true;
            }
        }
        if (first)
        {
            Interlocked.Increment(ref r._failures);
            Notify(() => OnFailed?.Invoke(r, e));
        }
        Signal();
        // Retried once elsewhere: one GPU's failure does not fail a request while another GPU is up; a second device
        // failure of the same batch ends it (its images may be what breaks the devices).
        if (++batch.DeviceFailures == 1 && AnyHealthy)
        {
            DispatchExcept(batch, r);
            return;
        }
        batch.Fail(AnyHealthy
            ? new NoHealthyReplicaException($"{Name(r)} failed while running the batch, after a retry on another replica: {e.Message}", e)
            : new NoHealthyReplicaException($"{NoHealthy().Message}; the batch's last error: {e.Message}", e));
    }

    /// <summary>
    /// Rebuilds the failed replicas among <paramref name="gpus"/> (null: every failed one) in place, on their own
    /// workers (nothing else runs on them meanwhile), and waits for them. A replica that is healthy is left as it is.
    /// Returns the replicas that were restored or attempted; their <see cref="Replica.State"/> tells the outcome.
    /// </summary>
    public async Task<IReadOnlyList<Replica>> RestoreAsync(IReadOnlyCollection<int>? gpus)
    {
        if (_rebuild == null) throw new InvalidOperationException("this service's replicas cannot be rebuilt");
        var waits = new List<(Replica, Task)>();
        lock (_lock)
        {
            if (_closing) throw new ObjectDisposedException("service", "the service was deleted");
            foreach (var r in _replicas)
            {
                if (gpus != null && !(r.Gpu is int g && gpus.Contains(g))) continue;
                if (r.State != ReplicaState.Failed) continue;
                var req = new RestoreRequest(NewSignal());
                r.State = ReplicaState.Restoring;
                if (!r.Inbox.Writer.TryWrite(req)) throw new ObjectDisposedException("service", "the service was deleted");
                waits.Add((r, req.Done.Task));
            }
        }
        Signal();
        await Task.WhenAll(waits.Select(w => w.Item2));
        return waits.Select(w => w.Item1).ToList();
    }

    private void Restore(Replica r, RestoreRequest req)
    {
        try
        {
            if (Volatile.Read(ref _closing)) throw new ObjectDisposedException("service", "the service was deleted");
            var old = r.Backend;
            r.Backend = null;
            try { old?.Dispose(); } catch (Exception) { /* a failed device may refuse to free; the rebuild still goes ahead */ }
            var fresh = _rebuild!(r);
            if (fresh.OutputSize != OutputSize || fresh.MaxBatchSize != MaxBatchSize)
            {
                fresh.Dispose();
                throw new InvalidOperationException($"the rebuilt backend has {fresh.OutputSize} scores and max batch {fresh.MaxBatchSize}, the service {OutputSize} and {MaxBatchSize}");
            }
            lock (_lock)
            {
                r.Backend = fresh;
                r.State = ReplicaState.Healthy;
                r.Error = null;
            }
        }
        catch (Exception e)
        {
            lock (_lock)
            {
                r.State = ReplicaState.Failed;
                r.Error = $"restore failed: {e.Message}";
            }
        }
        Signal();
        req.Done.TrySetResult();
    }

    /// <summary>Stops the workers once they have run what they hold (the batching queue stops first); backends stay.</summary>
    internal async Task StopAsync()
    {
        lock (_lock) _closing = true;
        foreach (var r in _replicas) r.Inbox.Writer.TryComplete();
        foreach (var r in _replicas)
        {
            try { await r.Worker; } catch { /* worker faults are reported per batch */ }
        }
    }

    /// <summary>Stops the workers and frees every backend.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var r in _replicas)
        {
            // Restore requests that never ran.
            while (r.Inbox.Reader.TryRead(out var left))
                if (left is RestoreRequest q) q.Done.TrySetResult();
            r.Backend?.Dispose();
            r.Backend = null;
        }
    }
}
