namespace TrtNative.Ir;

/// <summary>
/// One dimension of a shape: a known size, or <c>Factor × Symbol</c> for a size known only at run time
/// ("batch", or "197*batch" after a reshape folds the batch into rows). Products of two symbols and sums of
/// different symbols are not representable; shape inference reports those as unsupported.
/// </summary>
public readonly record struct Dim(long Factor, string? Symbol)
{
    /// <summary>A dimension of known size.</summary>
    public static Dim Of(long value) => new(value, null);

    /// <summary>A dimension named by a symbol (times a factor).</summary>
    public static Dim Sym(string symbol, long factor = 1) => factor == 0 ? new(0, null) : new(factor, symbol);

    /// <summary>True when the size is a plain number.</summary>
    public bool IsKnown => Symbol is null;

    /// <summary>The known size; throws for a symbolic dimension.</summary>
    public long Value => IsKnown ? Factor : throw new TrtNativeException(ErrorCode.ShapeMismatch, $"dimension '{this}' is not known until run time");

    /// <summary>The size once symbols are bound (e.g. batch = 8).</summary>
    public long Resolve(IReadOnlyDictionary<string, long>? bindings)
    {
        if (Symbol is null) return Factor;
        if (bindings is null || !bindings.TryGetValue(Symbol, out var v))
            throw new TrtNativeException(ErrorCode.ShapeMismatch, $"no value bound for dimension symbol '{Symbol}'");
        return Factor * v;
    }

    /// <summary>Product, or null when it would need a product of two symbols.</summary>
    public static Dim? Multiply(Dim a, Dim b)
    {
        if (a.IsKnown && b.IsKnown) return Of(a.Factor * b.Factor);
        if (a.IsKnown) return Sym(b.Symbol!, a.Factor * b.Factor);
        if (b.IsKnown) return Sym(a.Symbol!, a.Factor * b.Factor);
        return null;
    }

    /// <summary>Exact quotient, or null when it is not representable or not exact.</summary>
    public static Dim? Divide(Dim a, Dim b)
    {
        if (b.IsKnown)
        {
            if (b.Factor == 0 || a.Factor % b.Factor != 0) return null;
            return a.IsKnown ? Of(a.Factor / b.Factor) : Sym(a.Symbol!, a.Factor / b.Factor);
        }
        if (a.Symbol == b.Symbol && a.Factor % b.Factor == 0) return Of(a.Factor / b.Factor);
        return null;
    }

    /// <summary>Sum, or null when the symbols differ.</summary>
    public static Dim? Add(Dim a, Dim b)
    {
        if (a.IsKnown && b.IsKnown) return Of(a.Factor + b.Factor);
        if (a.Symbol == b.Symbol) return Sym(a.Symbol!, a.Factor + b.Factor);
        if (a.IsKnown && a.Factor == 0) return b;
        if (b.IsKnown && b.Factor == 0) return a;
        return null;
    }

    /// <summary>"3", "batch" or "197*batch".</summary>
    public override string ToString() => Symbol is null ? Factor.ToString() : Factor == 1 ? Symbol : $"{Factor}*{Symbol}";
}

/// <summary>Helpers over shapes written as <c>Dim[]</c>.</summary>
public static class Shapes
{
    /// <summary>Shape of known sizes.</summary>
    public static Dim[] Of(params long[] dims) => dims.Select(Dim.Of).ToArray();

    /// <summary>True when every dimension is known.</summary>
    public static bool IsKnown(this IReadOnlyList<Dim> shape) => shape.All(d => d.IsKnown);

    /// <summary>The known sizes; throws when any is symbolic.</summary>
    public static long[] Values(this IReadOnlyList<Dim> shape) => shape.Select(d => d.Value).ToArray();

    /// <summary>Sizes with symbols bound.</summary>
    public static long[] Resolve(this IReadOnlyList<Dim> shape, IReadOnlyDictionary<string, long>? bindings) =>
        shape.Select(d => d.Resolve(bindings)).ToArray();

    /// <summary>Product of all dimensions, or null if not representable.</summary>
    public static Dim? Product(this IEnumerable<Dim> dims)
    {
        Dim? p = Dim.Of(1);
        foreach (var d in dims) { p = p is { } q ? Dim.Multiply(q, d) : null; }
        return p;
    }

    /// <summary>"[batch,3,224,224]".</summary>
    public static string Format(this IReadOnlyList<Dim>? shape) => shape is null ? "[?]" : "[" + string.Join(",", shape) + "]";

    /// <summary>"[1,3,224,224]".</summary>
    public static string Format(this IReadOnlyList<long> shape) => "[" + string.Join(",", shape) + "]";

    /// <summary>Number of elements of a concrete shape.</summary>
    public static long ElementCount(this IReadOnlyList<long> shape) { long n = 1; foreach (var d in shape) n *= d; return n; }
}
