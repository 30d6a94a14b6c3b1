using TrtNative.Ir;

namespace TrtNative.Compiler;

/// <summary>
/// Where every tensor lives: weights at offsets in one weight blob, activations at offsets in one arena sized for
/// the profile's largest shapes. Activations whose lifetimes do not overlap share memory (first fit in layer
/// order); engine inputs and outputs get memory of their own so callers can read them after a run.
/// </summary>
internal sealed class MemoryPlan
{
    public const int Alignment = 256;

    /// <summary>Byte offset of each tensor in its region (weights: weight blob; others: arena); aliases repeat their root's.</summary>
    public long[] Offsets { get; private init; } = [];
    public bool[] InWeights { get; private init; } = [];
    public long ArenaBytes { get; private init; }
    public long WeightBytes { get; private init; }

    private static long Align(long v) => (v + Alignment - 1) / Alignment * Alignment;

    /// <summary>Plans <paramref name="p"/> with symbols bound to their largest values.</summary>
    public static MemoryPlan Create(LayerProgram p, IReadOnlyDictionary<string, long> maxBindings)
    {
        int n = p.Tensors.Count;
        var offsets = new long[n];
        var inWeights = new bool[n];
        long wbytes = 0;
        foreach (var t in p.Tensors)
            if (t.AliasOf < 0 && t.Role == TensorRole.Weight)
            {
                offsets[t.Id] = wbytes;
                inWeights[t.Id] = true;
                wbytes = Align(wbytes + Math.Max(t.Data!.Length, 1));
            }

        // Lifetimes of storage roots in layer indices.
        var first = new int[n];
        var last = new int[n];
        Array.Fill(first, int.MaxValue);
        Array.Fill(last, -1);
        for (int i = 0; i < p.Layers.Count; i++)
            foreach (var id in p.Layers[i].Inputs.Concat(p.Layers[i].Outputs))
            {
                if (id < 0) continue;
                int r = p.Root(id);
                first[r] = Math.Min(first[r], i);
                last[r] = Math.Max(last[r], i);
            }

        long Size(ProgramTensor t) => Align(Math.Max(1, t.Shape.Resolve(maxBindings).ElementCount() * t.ElementSize));

        long arena = 0;
        // Inputs and outputs: dedicated.
        foreach (var t in p.Tensors)
            if (t.AliasOf < 0 && t.Role is TensorRole.Input or TensorRole.Output)
            {
                offsets[t.Id] = arena;
                arena += Size(t);
            }
        long shared = arena;
        var live = new List<(long Off, long Size, int Last)>();
        for (int i = 0; i < p.Layers.Count; i++)
        {
            live.RemoveAll(b => b.Last < i);
            foreach (var id in p.Layers[i].Outputs)
            {
                int r = p.Root(id);
                var t = p.Tensors[r];
                if (t.Role != TensorRole.Activation || first[r] != i) continue;
                long size = Size(t);
                long off = shared;
                foreach (var b in live.OrderBy(b => b.Off))
                {
                    if (b.Off - off >= size) break;
                    off = Math.Max(off, b.Off + b.Size);
                }
                offsets[r] = off;
                live.Add((off, size, last[r]));
                arena = Math.Max(arena, off + size);
            }
        }
        foreach (var t in p.Tensors)
            if (t.AliasOf >= 0) { offsets[t.Id] = offsets[t.AliasOf]; inWeights[t.Id] = inWeights[t.AliasOf]; }
        return new MemoryPlan { Offsets = offsets, InWeights = inWeights, ArenaBytes = Math.Max(arena, Alignment), WeightBytes = Math.Max(wbytes, Alignment) };
    }
}
