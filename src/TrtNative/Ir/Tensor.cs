namespace TrtNative.Ir;

/// <summary>
/// A host tensor: a constant (initializer) in a graph, or a value in the reference executor. Floating types are
/// held as <c>float[]</c> (float16 values are rounded to fp16 but stored widened), integer and bool types as
/// <c>long[]</c>. A 1-D int64 "shape value" whose entries depend on a symbolic dimension (e.g. [batch, -1]) is
/// held as <see cref="SymbolicInts"/>; <see cref="Resolve"/> turns it concrete once the symbols are bound.
/// </summary>
public sealed class Tensor
{
    private Tensor(DataType type, long[] shape, float[]? floats, long[]? ints, Dim[]? symbolic)
    {
        Type = type;
        Shape = shape;
        Floats = floats;
        Ints = ints;
        SymbolicInts = symbolic;
        long n = shape.ElementCount();
        long have = floats?.Length ?? ints?.Length ?? symbolic!.Length;
        if (n != have)
            throw new TrtNativeException(ErrorCode.ShapeMismatch, $"tensor of shape {shape.Format()} needs {n} elements, got {have}");
    }

    /// <summary>Element type.</summary>
    public DataType Type { get; }
    /// <summary>Concrete shape.</summary>
    public long[] Shape { get; }
    /// <summary>Data of a floating-point tensor, row-major; null otherwise.</summary>
    public float[]? Floats { get; }
    /// <summary>Data of an integer or bool tensor, row-major; null otherwise.</summary>
    public long[]? Ints { get; }
    /// <summary>Entries of an int64 shape value that depends on symbolic dimensions; null otherwise.</summary>
    public Dim[]? SymbolicInts { get; }

    /// <summary>Rank.</summary>
    public int Rank => Shape.Length;
    /// <summary>Number of elements.</summary>
    public long Length => Shape.ElementCount();
    /// <summary>True for a symbolic shape value.</summary>
    public bool IsSymbolic => SymbolicInts is not null;

    /// <summary>A floating-point tensor (Float, Float16, Double, BFloat16) over <paramref name="data"/> (not copied).</summary>
    public static Tensor FromFloats(float[] data, long[] shape, DataType type = DataType.Float)
    {
        if (!type.IsFloating()) throw new ArgumentException($"{type} is not a floating type", nameof(type));
        return new Tensor(type, shape, data, null, null);
    }

    /// <summary>An integer or bool tensor over <paramref name="data"/> (not copied).</summary>
    public static Tensor FromInts(long[] data, long[] shape, DataType type = DataType.Int64)
    {
        if (!type.IsIntegral()) throw new ArgumentException($"{type} is not an integer type", nameof(type));
        return new Tensor(type, shape, null, data, null);
    }

    /// <summary>A 1-D int64 shape value; becomes a plain int64 tensor when every entry is known.</summary>
    public static Tensor FromDims(IReadOnlyList<Dim> dims)
    {
        if (dims.All(d => d.IsKnown)) return FromInts(dims.Select(d => d.Factor).ToArray(), [dims.Count]);
        return new Tensor(DataType.Int64, [dims.Count], null, null, dims.ToArray());
    }

    /// <summary>A zero-filled tensor of the given type and shape.</summary>
    public static Tensor Zeros(DataType type, long[] shape)
    {
        long n = shape.ElementCount();
        return type.IsFloating() ? FromFloats(new float[n], shape, type) : FromInts(new long[n], shape, type);
    }

    /// <summary>A scalar float.</summary>
    public static Tensor Scalar(float v) => FromFloats([v], []);

    /// <summary>The entries of a 1-D (or scalar) integer tensor as dimensions, symbolic ones included.</summary>
    public Dim[] AsDims() => SymbolicInts is { } s ? s : Ints is { } i ? i.Select(Dim.Of).ToArray()
        : throw new TrtNativeException(ErrorCode.Unsupported, $"expected an integer tensor, got {Type.OnnxName()}");

    /// <summary>Concrete integer values; for a symbolic value, with the symbols bound.</summary>
    public long[] ResolveInts(IReadOnlyDictionary<string, long>? bindings = null)
    {
        if (SymbolicInts is { } s) return s.Resolve(bindings);
        return Ints ?? throw new TrtNativeException(ErrorCode.Unsupported, $"expected an integer tensor, got {Type.OnnxName()}");
    }

    /// <summary>This tensor made concrete (symbols bound); other tensors are returned as they are.</summary>
    public Tensor Resolve(IReadOnlyDictionary<string, long>? bindings) => IsSymbolic ? FromInts(ResolveInts(bindings), Shape) : this;

    /// <summary>The same data under another shape of equal element count (data shared).</summary>
    public Tensor Reshape(long[] shape) => SymbolicInts is { } s ? new Tensor(Type, shape, null, null, s) : new Tensor(Type, shape, Floats, Ints, null);

    /// <summary>A deep copy.</summary>
    public Tensor Clone() => new(Type, (long[])Shape.Clone(), (float[]?)Floats?.Clone(), (long[]?)Ints?.Clone(), (Dim[]?)SymbolicInts?.Clone());

    /// <summary>Floating data, or a float copy of integer data.</summary>
    public float[] ToFloats() => Floats ?? ResolveInts().Select(v => (float)v).ToArray();

    /// <summary>"float32[1,3,224,224]".</summary>
    public override string ToString() => $"{Type.OnnxName()}{Shape.Format()}" + (SymbolicInts is { } s ? " = " + s.Format() : "");
}
