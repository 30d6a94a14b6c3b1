using System.Runtime.ExceptionServices;

namespace TrtNative.Server.Inference;

/// <summary>A GPU as the server sees it: ordinal, name, compute capability (SM number) and memory.</summary>
public sealed record GpuInfo(int Ordinal, string Name, int Sm, long TotalMemory);

/// <summary>
/// Builds a service's replicas: one backend per listed GPU (a CPU service: one backend). The engine is built once per
/// GPU model (same compute capability and <see cref="PlanFiles.DeviceTag"/>): the group's first GPU builds it and
/// saves the plan, then the group's other GPUs load that plan, in parallel. Leaders of different GPU models build one
/// after another (they share the repository's timing cache file).
/// </summary>
public static class ReplicaBuilder
{
    /// <summary>
    /// The replicas in the order of <paramref name="gpus"/>. A replica whose build fails is kept, failed, with the
    /// error (the others serve; a restore may bring it back); when every build fails, the first error is thrown.
    /// </summary>
    public static List<Replica> Build(BackendFactory factory, BackendKind kind, BackendSpec spec, IReadOnlyList<int> gpus, Action<string>? log = null)
    {
        if (kind == BackendKind.Cpu || gpus.Count == 0)
        {
            var cpu = factory.Create(kind, spec);
            return [new Replica(0, kind == BackendKind.Cpu ? null : spec.GpuId, cpu.Kind, cpu, null)];
        }
        if (gpus.Count == 1)
        {
            // Today's single-GPU service: one build on that GPU, nothing else.
            var one = factory.Create(kind, spec with { GpuId = gpus[0] });
            return [new Replica(0, gpus[0], factory.Gpu(gpus[0]).Name, one, null)];
        }
        var infos = gpus.Select(factory.Gpu).ToArray();
        var slots = new Replica?[gpus.Count];
        ExceptionDispatchInfo? firstError = null;
        var followers = new List<(int Index, GpuInfo Gpu, BackendSpec Spec)>();
        foreach (var group in Enumerable.Range(0, infos.Length).GroupBy(i => (infos[i].Sm, PlanFiles.DeviceTag(infos[i].Name))))
        {
            int lead = group.First();
            try
            {
                slots[lead] = new Replica(lead, infos[lead].Ordinal, infos[lead].Name, factory.Create(kind, spec with { GpuId = infos[lead].Ordinal }), null);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The other GPUs of this model would fail the same way: they are not tried.
                firstError ??= ExceptionDispatchInfo.Capture(e);
                log?.Invoke($"GPU {infos[lead].Ordinal} ({infos[lead].Name}): build failed: {e.Message}");
                foreach (int i in group) slots[i] = new Replica(i, infos[i].Ordinal, infos[i].Name, null, $"build failed: {e.Message}");
                continue;
            }
            // The leader saved its plan: the others load it. Without writeEngine there is no plan, and each builds.
            var followerSpec = spec.WriteEngine ? spec with { ReadEngine = true } : spec;
            foreach (int i in group.Skip(1)) followers.Add((i, infos[i], followerSpec with { GpuId = infos[i].Ordinal }));
        }
        Parallel.ForEach(followers, f =>
        {
            try
            {
                slots[f.Index] = new Replica(f.Index, f.Gpu.Ordinal, f.Gpu.Name, factory.Create(kind, f.Spec), null);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                log?.Invoke($"GPU {f.Gpu.Ordinal} ({f.Gpu.Name}): build failed: {e.Message}");
                slots[f.Index] = new Replica(f.Index, f.Gpu.Ordinal, f.Gpu.Name, null, $"build failed: {e.Message}");
            }
        });
        if (slots.All(r => r!.Backend == null)) firstError!.Throw();
        return slots.Select(r => r!).ToList();
    }
}
