using System.Text;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Runtime;

namespace TrtNative.Compiler;

/// <summary>What a program tensor is for; decides where its memory comes from.</summary>
internal enum TensorRole { Input = 0, Output = 1, Weight = 2, Activation = 3 }

/// <summary>
/// One tensor of a lowered program. <see cref="Shape"/> is physical (memory order) and may be symbolic (batch).
/// An alias shares the storage of tensor <see cref="AliasOf"/> (a reshape costs nothing).
/// </summary>
internal sealed class ProgramTensor
{
    public int Id { get; init; }
    public required string Name { get; init; }
    public NativeDType DType { get; init; }
    public required Dim[] Shape { get; init; }
    public TensorRole Role { get; init; }
    /// <summary>Weight bytes in <see cref="DType"/> encoding; null for other roles.</summary>
    public byte[]? Data { get; init; }
    public int AliasOf { get; init; } = -1;

    public int ElementSize => DType switch { NativeDType.Float16 or NativeDType.BFloat16 => 2, NativeDType.Int64 => 8, _ => 4 };
}

internal static class NativeDTypeExtensions
{
    /// <summary>Whether activations of this type are floating point (what precision choices apply to).</summary>
    public static bool IsFloat(this NativeDType t) => t is NativeDType.Float32 or NativeDType.Float16 or NativeDType.BFloat16;

    /// <summary>"fp32", "fp16", "bf16" (names of derived tensors, dumps).</summary>
    public static string ShortName(this NativeDType t) => t switch
    {
        NativeDType.Float16 => "fp16", NativeDType.BFloat16 => "bf16", NativeDType.Float32 => "fp32", _ => t.ToString().ToLowerInvariant(),
    };
}

/// <summary>One native layer: kind, blittable parameter block, tensor ids (-1 = absent optional input).</summary>
internal sealed class ProgramLayer
{
    public required string Name { get; init; }
    public LayerKind Kind { get; init; }
    public required byte[] Params { get; init; }
    public required int[] Inputs { get; init; }
    public required int[] Outputs { get; init; }
    /// <summary>
    /// Chosen tactic (conv: a cuDNN algorithm or graph configuration, 1000-1009 our kernels; gemm: a cuBLASLt heuristic
    /// index, with a split-K code above 31, 1000-1002 our tensor-core kernel; attention: 0 our kernel, 1 cuDNN's flash
    /// attention, 2-4 our tensor-core kernel), -1 = let the shim choose. The shim's cudnn.cpp and cublaslt.cpp define them.
    /// </summary>
    public int Tactic { get; set; } = -1;

    /// <summary>
    /// Tactics timed at each of the build's tuning points (<see cref="TuningPoints"/>), when there were several: the
    /// first output's element count there and the tactic chosen there. The shim runs, at each shape, the one timed at
    /// the nearest output size; empty: <see cref="Tactic"/> at every shape.
    /// </summary>
    public List<ShapeTactic> ShapeTactics { get; set; } = new();

    /// <summary>True when autotuning times tactics for this layer's kind (<see cref="LayerKinds"/>).</summary>
    public bool Tunable => LayerKinds.Find(Kind)?.Tunable ?? false;

    /// <summary>Byte offset of the tactic field in a kind's parameter block, -1 for kinds without one.</summary>
    public static int TacticOffset(LayerKind kind) => LayerKinds.Find(kind)?.TacticOffset ?? -1;

    /// <summary>The parameter block with <see cref="Tactic"/> written in.</summary>
    public byte[] ParamsWithTactic() => WithTactic(Tactic);

    /// <summary>The parameter block with <paramref name="tactic"/> in the tactic field (when the kind has one).</summary>
    public byte[] WithTactic(int tactic)
    {
        var p = (byte[])Params.Clone();
        int offset = TacticOffset(Kind);
        if (offset >= 0) BitConverter.TryWriteBytes(p.AsSpan(offset, 4), tactic);
        return p;
    }
}

/// <summary>A tactic timed at one tuning point: the layer's first output's element count there, and the tactic chosen.</summary>
internal readonly record struct ShapeTactic(long OutputElements, int Tactic);

/// <summary>An engine input or output as the caller sees it: logical shape (NCHW as in the model), float32.</summary>
internal sealed record ProgramBinding(string Name, int TensorId, Dim[] Shape);

/// <summary>
/// The result of lowering an optimized graph for the GPU: tensors (with weights), layers in execution order and
/// the input/output bindings. It is the plan payload: <see cref="Write"/> / <see cref="Read"/> round-trip it byte
/// for byte.
/// </summary>
internal sealed class LayerProgram
{
    /// <summary>Version of this payload's layout. The layer parameter blocks are the shim's structs, so the payload
    /// also records the ABI version they were written for: a plan from another ABI is stale.</summary>
    /// <remarks>Version 3 adds <see cref="KeptFp32"/> and stores <see cref="ActivationType"/> (bf16); version 4 each
    /// layer's <see cref="ProgramLayer.ShapeTactics"/>.</remarks>
    public const int PayloadVersion = 4;

    /// <summary>The type the program computes in: fp32, fp16 or bf16 (nodes in <see cref="KeptFp32"/> excepted).</summary>
    public NativeDType ActivationType { get; init; } = NativeDType.Float32;

    /// <summary>Whether the program computes in fp16.</summary>
    public bool Fp16 => ActivationType == NativeDType.Float16;

    /// <summary>Whether the program computes in a reduced type (fp16 or bf16).</summary>
    public bool Reduced => ActivationType != NativeDType.Float32;

    /// <summary>The nodes of a reduced program that run in fp32, and why (mixed precision); empty for pure programs.</summary>
    public List<PrecisionChoice> KeptFp32 { get; } = new();
    public List<ProgramTensor> Tensors { get; } = new();
    public List<ProgramLayer> Layers { get; } = new();
    public List<ProgramBinding> Inputs { get; } = new();
    public List<ProgramBinding> Outputs { get; } = new();


    /// <summary>The storage owner of tensor <paramref name="id"/> (itself unless it is an alias).</summary>
    public int Root(int id) => Tensors[id].AliasOf >= 0 ? Tensors[id].AliasOf : id;

    /// <summary>Adds a tensor (ids are dense, in order); returns its id.</summary>
    public int AddTensor(string name, NativeDType dtype, Dim[] shape, TensorRole role, byte[]? data = null, int aliasOf = -1)
    {
        int id = Tensors.Count;
        Tensors.Add(new ProgramTensor { Id = id, Name = name, DType = dtype, Shape = shape, Role = role, Data = data, AliasOf = aliasOf });
        return id;
    }

    /// <summary>Adds a view of <paramref name="tensor"/>'s storage with another shape (a reshape): it owns no memory.</summary>
    public int AddAlias(int tensor, Dim[] shape, string name)
    {
        int root = Root(tensor);
        return AddTensor(name, Tensors[tensor].DType, shape, Tensors[root].Role == TensorRole.Weight ? TensorRole.Weight : TensorRole.Activation,
            null, root);
    }

    /// <summary>Indices of the layers that read tensor storage <paramref name="root"/> (through any alias).</summary>
    public List<int> Readers(int root) =>
        Enumerable.Range(0, Layers.Count).Where(j => Layers[j].Inputs.Any(t => t >= 0 && Root(t) == root)).ToList();

    /// <summary>Index of the first layer that writes tensor storage <paramref name="root"/>, or -1.</summary>
    public int Producer(int root) => Layers.FindIndex(l => l.Outputs.Any(o => Root(o) == root));

    /// <summary>
    /// Offers each layer's index in turn to <paramref name="rewriteAt"/>, a pass's rewrite, which returns true when it
    /// changed the program by removing one layer at or before that index; the same index is then offered again, as it
    /// now holds a layer not yet looked at. Returns how many rewrites were made.
    /// </summary>
    public int RewriteEach(Func<int, bool> rewriteAt)
    {
        int rewrites = 0;
        for (int i = 0; i < Layers.Count; i++)
        {
            if (!rewriteAt(i)) continue;
            rewrites++;
            i--;
        }
        return rewrites;
    }

    /// <summary>Whether tensor storage <paramref name="root"/> is an engine output.</summary>
    public bool IsEngineOutput(int root) => Outputs.Any(o => Root(o.TensorId) == root);

    /// <summary>A layer's parameter block: the struct's bytes as the native side reads them.</summary>
    public static byte[] ParamBytes<T>(in T prm) where T : unmanaged
    {
        var bytes = new byte[System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        System.Runtime.InteropServices.MemoryMarshal.Write(bytes, in prm);
        return bytes;
    }

    /// <summary>Total weight bytes.</summary>
    public long WeightBytes => Tensors.Where(t => t.Data is not null).Sum(t => (long)t.Data!.Length);

    public void Write(BinaryWriter w)
    {
        w.Write(PayloadVersion);
        w.Write(NativeLibraryLoader.ExpectedAbiVersion);
        w.Write((int)ActivationType);
        w.Write(Tensors.Count);
        foreach (var t in Tensors)
        {
            w.Write(t.Name);
            w.Write((int)t.DType);
            w.Write((int)t.Role);
            w.Write(t.AliasOf);
            WriteShape(w, t.Shape);
            w.Write(t.Data?.Length ?? -1);
            if (t.Data is not null) w.Write(t.Data);
        }
        w.Write(Layers.Count);
        foreach (var l in Layers)
        {
            w.Write(l.Name);
            w.Write((int)l.Kind);
            w.Write(l.Params.Length);
            w.Write(l.Params);
            w.Write(l.Inputs.Length);
            foreach (var i in l.Inputs) w.Write(i);
            w.Write(l.Outputs.Length);
            foreach (var o in l.Outputs) w.Write(o);
            w.Write(l.Tactic);
            w.Write(l.ShapeTactics.Count);
            foreach (var st in l.ShapeTactics) { w.Write(st.OutputElements); w.Write(st.Tactic); }
        }
        WriteBindings(w, Inputs);
        WriteBindings(w, Outputs);
        w.Write(KeptFp32.Count);
        foreach (var k in KeptFp32) { w.Write(k.Node); w.Write(k.Op); w.Write(k.Reason); }
    }

    public static LayerProgram Read(BinaryReader r)
    {
        int version = r.ReadInt32();
        if (version != PayloadVersion)
            throw new TrtNativeException(ErrorCode.StalePlan, $"plan payload version {version}, this TrtNative reads {PayloadVersion}: rebuild the plan");
        int abi = r.ReadInt32();
        if (abi != NativeLibraryLoader.ExpectedAbiVersion)
            throw new TrtNativeException(ErrorCode.StalePlan, $"the plan's layers were written for native ABI {abi}, this TrtNative uses {NativeLibraryLoader.ExpectedAbiVersion}: rebuild the plan");
        var act = (NativeDType)r.ReadInt32();
        if (!act.IsFloat()) throw new FormatException($"activation type {(int)act} is not a float type");
        var p = new LayerProgram { ActivationType = act };
        int nt = ReadCount(r, 21, "tensor count");
        for (int i = 0; i < nt; i++)
        {
            string name = r.ReadString();
            var dt = (NativeDType)r.ReadInt32();
            var role = (TensorRole)r.ReadInt32();
            int alias = r.ReadInt32();
            var shape = ReadShape(r);
            int len = r.ReadInt32();
            byte[]? data = len >= 0 ? r.ReadBytes(CheckCount(len, r, 1, $"tensor '{name}' data length")) : null;
            if (data is not null && data.Length != len) throw new EndOfStreamException();
            p.Tensors.Add(new ProgramTensor { Id = i, Name = name, DType = dt, Role = role, AliasOf = alias, Shape = shape, Data = data });
        }
        int nl = ReadCount(r, 25, "layer count");
        for (int i = 0; i < nl; i++)
        {
            string name = r.ReadString();
            var kind = (LayerKind)r.ReadInt32();
            var prm = r.ReadBytes(ReadCount(r, 1, $"layer '{name}' parameter length"));
            var ins = new int[ReadCount(r, 4, $"layer '{name}' input count")];
            for (int k = 0; k < ins.Length; k++) ins[k] = r.ReadInt32();
            var outs = new int[ReadCount(r, 4, $"layer '{name}' output count")];
            for (int k = 0; k < outs.Length; k++) outs[k] = r.ReadInt32();
            var layer = new ProgramLayer { Name = name, Kind = kind, Params = prm, Inputs = ins, Outputs = outs, Tactic = r.ReadInt32() };
            int shapeTactics = r.ReadInt32();
            if (shapeTactics < 0 || shapeTactics > 16) throw new FormatException($"layer '{name}': {shapeTactics} shape tactics");
            for (int k = 0; k < shapeTactics; k++)
            {
                long elements = r.ReadInt64();
                if (elements < 0) throw new FormatException($"layer '{name}': shape tactic for {elements} output elements");
                layer.ShapeTactics.Add(new ShapeTactic(elements, r.ReadInt32()));
            }
            p.Layers.Add(layer);
        }
        ReadBindings(r, p.Inputs);
        ReadBindings(r, p.Outputs);
        int kept = ReadCount(r, 3, "kept-in-fp32 count");
        for (int i = 0; i < kept; i++) p.KeptFp32.Add(new PrecisionChoice(r.ReadString(), r.ReadString(), r.ReadString()));
        return p;
    }

    /// <summary>
    /// A count or length read from a payload, refused (FormatException) when negative or when the bytes left could not
    /// hold that many items of at least <paramref name="bytesEach"/> bytes: a damaged count must not allocate gigabytes
    /// before the read runs out.
    /// </summary>
    internal static int ReadCount(BinaryReader r, int bytesEach, string what) => CheckCount(r.ReadInt32(), r, bytesEach, what);

    private static int CheckCount(int n, BinaryReader r, int bytesEach, string what)
    {
        long left = r.BaseStream.Length - r.BaseStream.Position;
        if (n < 0 || (long)n * bytesEach > left) throw new FormatException($"{what} {n} does not fit the {left} bytes left");
        return n;
    }

    private static void WriteShape(BinaryWriter w, Dim[] shape)
    {
        w.Write(shape.Length);
        foreach (var d in shape) { w.Write(d.Factor); w.Write(d.Symbol ?? ""); }
    }

    private static Dim[] ReadShape(BinaryReader r)
    {
        var s = new Dim[ReadCount(r, 9, "shape rank")];
        for (int i = 0; i < s.Length; i++)
        {
            long f = r.ReadInt64();
            string sym = r.ReadString();
            s[i] = sym.Length == 0 ? Dim.Of(f) : new Dim(f, sym);
        }
        return s;
    }

    private static void WriteBindings(BinaryWriter w, List<ProgramBinding> b)
    {
        w.Write(b.Count);
        foreach (var x in b) { w.Write(x.Name); w.Write(x.TensorId); WriteShape(w, x.Shape); }
    }

    private static void ReadBindings(BinaryReader r, List<ProgramBinding> into)
    {
        int n = ReadCount(r, 9, "binding count");
        for (int i = 0; i < n; i++) into.Add(new ProgramBinding(r.ReadString(), r.ReadInt32(), ReadShape(r)));
    }

    /// <summary>One line per layer, for build logs and `inspect`.</summary>
    public string Dump()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"program ({ActivationType.ShortName()}): {Tensors.Count} tensors, {Layers.Count} layers, {WeightBytes:N0} weight bytes");
        foreach (var k in KeptFp32) sb.AppendLine($"  kept in fp32: {k}");
        string T(int id) => id < 0 ? "_" : $"%{id}{Tensors[id].Shape.Format()}";
        foreach (var l in Layers)
            sb.AppendLine($"  {string.Join(", ", l.Outputs.Select(T))} = {l.Kind}({string.Join(", ", l.Inputs.Select(T))}){(l.Tunable ? $" tactic={l.Tactic}" : "")}{(l.ShapeTactics.Count > 0 ? $" by output size {string.Join(" ", l.ShapeTactics.Select(t => $"{t.OutputElements}:{t.Tactic}"))}" : "")}  # {l.Name}");
        return sb.ToString();
    }
}
