using TrtNative.Ir;

namespace TrtNative.Ops;

/// <summary>
/// Unary activations and math, binary arithmetic and comparisons with numpy broadcasting (and the legacy
/// <c>broadcast</c>/<c>axis</c> form of opsets before 7), variadic Max/Min/Sum/Mean, Clip, PRelu, Where, Expand.
/// Floating tensors are computed in fp32 whatever their declared type (float16 stays typed float16); integer and
/// bool tensors in int64, wrapped to the width of their type.
/// </summary>
internal static class ElementwiseOps
{
    public static void Register(OpRegistry r)
    {
        // Unary, floating (some also integral).
        Unary(r, "Relu", _ => x => x > 0 ? x : 0, _ => v => Math.Max(v, 0));
        Unary(r, "LeakyRelu", n => { float a = n.GetFloat("alpha", 0.01f); return x => x >= 0 ? x : a * x; });
        Unary(r, "Sigmoid", _ => x => 1f / (1f + MathF.Exp(-x)));
        Unary(r, "HardSigmoid", n =>
        {
            float a = n.GetFloat("alpha", 0.2f), b = n.GetFloat("beta", 0.5f);
            return x => MathF.Max(0, MathF.Min(1, a * x + b));
        });
        Unary(r, "HardSwish", _ => x => x * MathF.Max(0, MathF.Min(1, x / 6f + 0.5f)), minOpset: 14);
        Unary(r, "Tanh", _ => MathF.Tanh);
        Unary(r, "Erf", _ => x => (float)Erf(x), minOpset: 9);
        Unary(r, "Exp", _ => MathF.Exp);
        Unary(r, "Log", _ => MathF.Log);
        Unary(r, "Sqrt", _ => MathF.Sqrt);
        Unary(r, "Neg", _ => x => -x, _ => v => -v);
        Unary(r, "Abs", _ => MathF.Abs, _ => Math.Abs);
        Unary(r, "Sign", _ => x => float.IsNaN(x) ? x : MathF.Sign(x), _ => v => Math.Sign(v), minOpset: 9);
        Unary(r, "Reciprocal", _ => x => 1f / x);
        Unary(r, "Floor", _ => MathF.Floor);
        Unary(r, "Ceil", _ => MathF.Ceiling);
        Unary(r, "Round", _ => x => MathF.Round(x, MidpointRounding.ToEven), minOpset: 11);
        Unary(r, "Sin", _ => MathF.Sin, minOpset: 7);
        Unary(r, "Cos", _ => MathF.Cos, minOpset: 7);
        Unary(r, "Softplus", _ => x => x > 20 ? x : MathF.Log(1 + MathF.Exp(x)));
        Unary(r, "Softsign", _ => x => x / (1 + MathF.Abs(x)));
        Unary(r, "Elu", n => { float a = n.GetFloat("alpha", 1f); return x => x >= 0 ? x : a * (MathF.Exp(x) - 1); });
        Unary(r, "Selu", n =>
        {
            float a = n.GetFloat("alpha", 1.67326319217681884765625f), g = n.GetFloat("gamma", 1.05070102214813232421875f);
            return x => x > 0 ? g * x : g * (a * MathF.Exp(x) - a);
        });
        Unary(r, "ThresholdedRelu", n => { float a = n.GetFloat("alpha", 1f); return x => x > a ? x : 0; }, minOpset: 10);
        Unary(r, "Not", null, _ => v => v == 0 ? 1 : 0, boolOnly: true);
        Unary(r, "Tan", _ => MathF.Tan, minOpset: 7);
        Unary(r, "Asin", _ => MathF.Asin, minOpset: 7);
        Unary(r, "Acos", _ => MathF.Acos, minOpset: 7);
        Unary(r, "Atan", _ => MathF.Atan, minOpset: 7);
        Unary(r, "Sinh", _ => MathF.Sinh, minOpset: 9);
        Unary(r, "Cosh", _ => MathF.Cosh, minOpset: 9);
        Unary(r, "Asinh", _ => MathF.Asinh, minOpset: 9);
        Unary(r, "Acosh", _ => MathF.Acosh, minOpset: 9);
        Unary(r, "Atanh", _ => MathF.Atanh, minOpset: 9);
        Unary(r, "Celu", n => { float a = n.GetFloat("alpha", 1f); return x => MathF.Max(0, x) + MathF.Min(0, a * (MathF.Exp(x / a) - 1)); }, minOpset: 12);
        Unary(r, "Shrink", n =>
        {
            float l = n.GetFloat("lambd", 0.5f), b = n.GetFloat("bias", 0f);
            return x => x < -l ? x + b : x > l ? x - b : 0;
        }, n =>
        {
            float l = n.GetFloat("lambd", 0.5f), b = n.GetFloat("bias", 0f);
            return x => x < -l ? (long)(x + b) : x > l ? (long)(x - b) : 0;
        }, minOpset: 9);
        Predicate(r, "IsNaN", _ => float.IsNaN, minOpset: 9);
        Predicate(r, "IsInf", n =>
        {
            bool neg = n.GetInt("detect_negative", 1) != 0, pos = n.GetInt("detect_positive", 1) != 0;
            return x => neg && float.IsNegativeInfinity(x) || pos && float.IsPositiveInfinity(x);
        }, minOpset: 10);

        // Binary arithmetic.
        Binary(r, "Add", (a, b) => a + b, (a, b) => a + b);
        Binary(r, "Sub", (a, b) => a - b, (a, b) => a - b);
        Binary(r, "Mul", (a, b) => a * b, (a, b) => a * b);
        Binary(r, "Div", (a, b) => a / b, (a, b) => b == 0
            ? throw new TrtNativeException(ErrorCode.InvalidArgument, "Div: integer division by zero") : a / b);
        Binary(r, "Pow", (a, b) => MathF.Pow(a, b), (a, b) => (long)Math.Pow(a, b), mixedTypes: true);
        // Mod: fmod=0 takes the divisor's sign (Python %), integers only; fmod=1 the dividend's (C fmod).
        Binary(r, "Mod", n => n.GetInt("fmod", 0) != 0 ? (a, b) => a % b : null,
            n => n.GetInt("fmod", 0) != 0
                ? (a, b) => b == 0 ? throw new TrtNativeException(ErrorCode.InvalidArgument, "Mod: integer division by zero") : a % b
                : (a, b) => b == 0 ? throw new TrtNativeException(ErrorCode.InvalidArgument, "Mod: integer division by zero") : ((a % b) + b) % b,
            minOpset: 10);
        Binary(r, "BitShift", _ => null, n => n.GetString("direction", "") switch
        {
            "LEFT" => (a, b) => b >= 64 ? 0 : (long)((ulong)a << (int)b),
            "RIGHT" => (a, b) => b >= 64 ? 0 : (long)((ulong)a >> (int)b),
            _ => null,
        }, minOpset: 11);

        // Comparisons and logic (bool results).
        Compare(r, "Equal", (a, b) => a == b, (a, b) => a == b);
        Compare(r, "Greater", (a, b) => a > b, (a, b) => a > b);
        Compare(r, "Less", (a, b) => a < b, (a, b) => a < b);
        Compare(r, "GreaterOrEqual", (a, b) => a >= b, (a, b) => a >= b, minOpset: 12);
        Compare(r, "LessOrEqual", (a, b) => a <= b, (a, b) => a <= b, minOpset: 12);
        Compare(r, "And", null, (a, b) => a != 0 && b != 0, boolOnly: true);
        Compare(r, "Or", null, (a, b) => a != 0 || b != 0, boolOnly: true);
        Compare(r, "Xor", null, (a, b) => (a != 0) != (b != 0), boolOnly: true);

        // Variadic.
        Variadic(r, "Max", MathF.Max, Math.Max);
        Variadic(r, "Min", MathF.Min, Math.Min);
        Variadic(r, "Sum", (a, b) => a + b, (a, b) => a + b);
        Variadic(r, "Mean", (a, b) => a + b, null, mean: true);

        r.Add("PRelu", InferPRelu, ExecPRelu);
        r.Add("Clip", InferClip, ExecClip);
        r.Add("Where", InferWhere, ExecWhere, minOpset: 9);
        r.Add("Expand", InferExpand, ExecExpand, minOpset: 8);
    }

    // ---------------------------------------------------------------- unary

    internal static void Unary(OpRegistry r, string op, Func<Node, Func<float, float>>? floats, Func<Node, Func<long, long>>? ints = null,
        bool boolOnly = false, int minOpset = 1, string domain = "")
    {
        r.Add(op, ctx =>
        {
            var t = ctx.InputType(0);
            if (boolOnly ? t != DataType.Bool : !(t.IsFloating() && floats is not null || t.IsIntegral() && t != DataType.Bool && ints is not null))
                throw ctx.Unsupported($"input type {t.OnnxName()} is not supported; {op} takes {(boolOnly ? "bool" : ints is null ? "floating types" : "floating and integer types")}");
            ctx.SetOutput(0, t, ctx.InputShape(0));
        }, ctx =>
        {
            var x = ctx.Input(0);
            if (x.Floats is { } xf)
            {
                var f = floats!(ctx.Node);
                var y = new float[xf.Length];
                for (int i = 0; i < y.Length; i++) y[i] = f(xf[i]);
                ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
            }
            else
            {
                var xi = x.ResolveInts();
                var f = (ints ?? throw ctx.Unsupported($"integer input is not supported"))(ctx.Node);
                var y = new long[xi.Length];
                for (int i = 0; i < y.Length; i++) y[i] = Wrap(x.Type, f(xi[i]));
                ctx.SetOutput(0, Tensor.FromInts(y, x.Shape, x.Type));
            }
        }, domain, minOpset);
    }

    /// <summary>A unary floating test with a bool result (IsNaN, IsInf).</summary>
    private static void Predicate(OpRegistry r, string op, Func<Node, Func<float, bool>> f, int minOpset)
    {
        r.Add(op, ctx =>
        {
            if (!ctx.InputType(0).IsFloating()) throw ctx.Unsupported($"input type {ctx.InputType(0).OnnxName()} is not supported; {op} takes floating types");
            ctx.SetOutput(0, DataType.Bool, ctx.InputShape(0));
        }, ctx =>
        {
            var x = ctx.Input(0);
            var p = f(ctx.Node);
            ctx.SetOutput(0, Tensor.FromInts(Array.ConvertAll(x.Floats!, v => p(v) ? 1L : 0L), x.Shape, DataType.Bool));
        }, minOpset: minOpset);
    }

    // ---------------------------------------------------------------- binary

    /// <summary>
    /// The numpy broadcast shape of inputs 0 and 1, or (opset &lt; 7) the legacy form: with <c>broadcast=1</c>, B's
    /// shape matches a run of A's dimensions starting at <c>axis</c> (default: A's trailing dimensions).
    /// </summary>
    internal static Dim[] BinaryShape(InferenceContext ctx, bool legacyForm)
    {
        var a = ctx.InputShape(0);
        var b = ctx.InputShape(1);
        if (legacyForm && ctx.Opset < 7)
        {
            if (ctx.Node.GetInt("broadcast", 0) == 0)
            {
                if (a.Length != b.Length || a.Zip(b).Any(p => p.First.IsKnown && p.Second.IsKnown && p.First != p.Second))
                    throw ctx.Error($"without broadcast=1 (opset {ctx.Opset} semantics) the inputs must have equal shapes, got {a.Format()} and {b.Format()}");
                return a;
            }
            var axis = LegacyAxis(ctx.Node, a.Length, b.Length, ctx.Error);
            for (int k = 0; k < b.Length; k++)
            {
                var bd = b[k];
                if (bd.IsKnown && bd.Factor == 1) continue;
                if (bd != a[axis + k] && bd.IsKnown && a[axis + k].IsKnown)
                    throw ctx.Error($"broadcast=1, axis={axis}: B {b.Format()} does not match A {a.Format()} at dimension {axis + k}");
            }
            return a;
        }
        return Broadcast.Shapes([a, b], out var why) ?? throw ctx.Error(why!);
    }

    private static int LegacyAxis(Node n, int rankA, int rankB, Func<string, Exception> error)
    {
        long axis = n.GetInt("axis", rankA - rankB);
        if (axis < 0) axis += rankA;
        if (axis < 0 || axis + rankB > rankA) throw error($"broadcast axis {n.GetInt("axis", rankA - rankB)} does not fit B of rank {rankB} into A of rank {rankA}");
        return (int)axis;
    }

    /// <summary>B with ones inserted so that numpy broadcasting gives the legacy (opset &lt; 7, broadcast=1) result.</summary>
    private static Tensor LegacyAlign(KernelContext ctx, Tensor a, Tensor b)
    {
        if (ctx.Opset >= 7 || ctx.Node.GetInt("broadcast", 0) == 0 || b.Rank == a.Rank) return b;
        int axis = LegacyAxis(ctx.Node, a.Rank, b.Rank, ctx.Error);
        var shape = new long[a.Rank];
        Array.Fill(shape, 1L);
        for (int k = 0; k < b.Rank; k++) shape[axis + k] = b.Shape[k];
        return b.Reshape(shape);
    }

    private static void Binary(OpRegistry r, string op, Func<float, float, float> f, Func<long, long, long> i, bool mixedTypes = false, int minOpset = 1)
        => Binary(r, op, _ => f, _ => i, mixedTypes, minOpset);

    /// <summary>A binary arithmetic op whose functions depend on the node's attributes (Mod's fmod, BitShift's direction).</summary>
    private static void Binary(OpRegistry r, string op, Func<Node, Func<float, float, float>?> floats, Func<Node, Func<long, long, long>?> ints,
        bool mixedTypes = false, int minOpset = 1)
    {
        r.Add(op, ctx =>
        {
            DataType ta = ctx.InputType(0), tb = ctx.InputType(1);
            if (ta == DataType.Bool || ta == DataType.String) throw ctx.Unsupported($"input type {ta.OnnxName()} is not supported");
            if (!mixedTypes && ta.IsFloating() != tb.IsFloating())
                throw ctx.Error($"input types differ: {ta.OnnxName()} and {tb.OnnxName()}");
            if (ta.IsFloating() && floats(ctx.Node) is null || !ta.IsFloating() && ints(ctx.Node) is null)
                throw ctx.Unsupported($"input type {ta.OnnxName()} is not supported with these attributes");
            ctx.SetOutput(0, ta, BinaryShape(ctx, legacyForm: true));
        }, ctx =>
        {
            var a = ctx.Input(0);
            var b = LegacyAlign(ctx, a, ctx.Input(1));
            var shape = Broadcast.Shapes(a.Shape, b.Shape);
            var plan = Broadcast.Plan(shape, a.Shape, b.Shape);
            long n = shape.ElementCount();
            if (a.Type.IsFloating())
            {
                var f = floats(ctx.Node) ?? throw ctx.Unsupported($"input type {a.Type.OnnxName()} is not supported with these attributes");
                var y = new float[n];
                Map(plan, a.ToFloats(), b.ToFloats(), y, f);
                ctx.SetOutput(0, Tensor.FromFloats(y, shape, a.Type));
            }
            else if (b.Type.IsFloating())
            {
                // Pow(int, float): computed in double, truncated like a C cast.
                var y = new long[n];
                var ai = a.ResolveInts();
                Map(plan, ai, b.Floats!, y, (x, e) => Wrap(a.Type, (long)Math.Pow(x, e)));
                ctx.SetOutput(0, Tensor.FromInts(y, shape, a.Type));
            }
            else
            {
                var i = ints(ctx.Node) ?? throw ctx.Unsupported($"input type {a.Type.OnnxName()} is not supported with these attributes");
                var y = new long[n];
                var t = a.Type;
                try { Map(plan, a.ResolveInts(), b.ResolveInts(), y, (x, z) => Wrap(t, i(x, z))); }
                catch (TrtNativeException e) when (e.Code == ErrorCode.InvalidArgument)
                {
                    throw new TrtNativeException(ErrorCode.InvalidArgument, $"node '{ctx.Node.Name}' ({ctx.Node.QualifiedOp}, opset {ctx.Opset}): {e.Message}");
                }
                ctx.SetOutput(0, Tensor.FromInts(y, shape, a.Type));
            }
        }, minOpset: minOpset);
    }

    private static void Compare(OpRegistry r, string op, Func<float, float, bool>? f, Func<long, long, bool> i, bool boolOnly = false, int minOpset = 1)
    {
        r.Add(op, ctx =>
        {
            DataType ta = ctx.InputType(0), tb = ctx.InputType(1);
            if (boolOnly && (ta != DataType.Bool || tb != DataType.Bool))
                throw ctx.Unsupported($"{op} takes bool inputs, got {ta.OnnxName()} and {tb.OnnxName()}");
            if (ta.IsFloating() != tb.IsFloating())
                throw ctx.Error($"input types differ: {ta.OnnxName()} and {tb.OnnxName()}");
            if (ta == DataType.String) throw ctx.Unsupported("string inputs are not supported");
            ctx.SetOutput(0, DataType.Bool, BinaryShape(ctx, legacyForm: true));
        }, ctx =>
        {
            var a = ctx.Input(0);
            var b = LegacyAlign(ctx, a, ctx.Input(1));
            var shape = Broadcast.Shapes(a.Shape, b.Shape);
            var plan = Broadcast.Plan(shape, a.Shape, b.Shape);
            var y = new long[shape.ElementCount()];
            if (a.Floats is not null && b.Floats is not null)
            {
                var ff = f ?? throw ctx.Unsupported("floating inputs are not supported");
                Map(plan, a.Floats, b.Floats, y, (x, z) => ff(x, z) ? 1L : 0L);
            }
            else Map(plan, a.ResolveInts(), b.ResolveInts(), y, (x, z) => i(x, z) ? 1L : 0L);
            ctx.SetOutput(0, Tensor.FromInts(y, shape, DataType.Bool));
        }, minOpset: minOpset);
    }

    private static void Variadic(OpRegistry r, string op, Func<float, float, float> f, Func<long, long, long>? i, bool mean = false)
    {
        r.Add(op, ctx =>
        {
            if (ctx.InputCount == 0) throw ctx.Error("needs at least one input");
            var t = ctx.InputType(0);
            if (!t.IsFloating() && (i is null || t == DataType.Bool)) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported");
            var shapes = new List<IReadOnlyList<Dim>>();
            for (int k = 0; k < ctx.InputCount; k++)
            {
                if (ctx.InputType(k).IsFloating() != t.IsFloating()) throw ctx.Error($"input types differ: {t.OnnxName()} and {ctx.InputType(k).OnnxName()}");
                shapes.Add(ctx.InputShape(k));
            }
            ctx.SetOutput(0, t, Broadcast.Shapes(shapes, out var why) ?? throw ctx.Error(why!));
        }, ctx =>
        {
            var acc = ctx.Input(0);
            var type = acc.Type;
            acc = Broadcast.Expand(acc, acc.Shape).Clone();
            for (int k = 1; k < ctx.InputCount; k++)
            {
                var b = ctx.Input(k);
                var shape = Broadcast.Shapes(acc.Shape, b.Shape);
                var plan = Broadcast.Plan(shape, acc.Shape, b.Shape);
                if (type.IsFloating())
                {
                    var y = new float[shape.ElementCount()];
                    Map(plan, acc.Floats!, b.ToFloats(), y, f);
                    acc = Tensor.FromFloats(y, shape, type);
                }
                else
                {
                    var y = new long[shape.ElementCount()];
                    Map(plan, acc.Ints!, b.ResolveInts(), y, (x, z) => Wrap(type, i!(x, z)));
                    acc = Tensor.FromInts(y, shape, type);
                }
            }
            if (mean)
            {
                float inv = ctx.InputCount;
                var ys = acc.Floats!;
                for (int k = 0; k < ys.Length; k++) ys[k] /= inv;
            }
            ctx.SetOutput(0, acc);
        });
    }

    /// <summary>y = f(a, b) over a broadcast plan of two inputs.</summary>
    internal static void Map<TA, TB, TO>(BroadcastPlan plan, TA[] a, TB[] b, TO[] y, Func<TA, TB, TO> f)
    {
        if (a.Length == y.Length && b.Length == y.Length && plan.IsElementwise)
        {
            for (int k = 0; k < y.Length; k++) y[k] = f(a[k], b[k]);
            return;
        }
        plan.ForEachRow((offs, st, o, len) =>
        {
            int ia = offs[0], ib = offs[1], sa = st[0], sb = st[1];
            for (int k = 0; k < len; k++, ia += sa, ib += sb) y[o + k] = f(a[ia], b[ib]);
        });
    }

    /// <summary>An int64 result reduced to the range of its element type (two's complement wrap, as C does).</summary>
    internal static long Wrap(DataType t, long v) => t switch
    {
        DataType.Int8 => (sbyte)v,
        DataType.UInt8 => (byte)v,
        DataType.Int16 => (short)v,
        DataType.UInt16 => (ushort)v,
        DataType.Int32 => (int)v,
        DataType.UInt32 => (uint)v,
        DataType.Bool => v != 0 ? 1 : 0,
        _ => v,
    };

    // ---------------------------------------------------------------- PRelu, Clip, Where, Expand

    private static void InferPRelu(InferenceContext ctx)
    {
        var x = ctx.InputShape(0);
        var slope = ctx.InputShape(1);
        if (!ctx.InputType(0).IsFloating()) throw ctx.Unsupported($"input type {ctx.InputType(0).OnnxName()} is not supported");
        // Before opset 7 a 1-D slope of C values (Caffe2 exports) is per channel, where numpy broadcasting would not apply.
        if (ctx.Opset < 7 && slope.Length == 1 && x.Length > 2 && slope[0] == x[1] && slope[0] != x[^1])
        {
            ctx.SetOutput(0, ctx.InputType(0), x);
            return;
        }
        if (!Broadcast.CanExpandTo(slope, x))
            throw ctx.Error($"slope {slope.Format()} cannot be broadcast to X {x.Format()}");
        ctx.SetOutput(0, ctx.InputType(0), x);
    }

    private static void ExecPRelu(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var s = ctx.Input(1);
        if (ctx.Opset < 7 && s.Rank == 1 && x.Rank > 2 && s.Shape[0] == x.Shape[1] && s.Shape[0] != x.Shape[^1])
        {
            var shape = new long[x.Rank - 1];
            Array.Fill(shape, 1L);
            shape[0] = s.Shape[0];
            s = s.Reshape(shape);
        }
        var plan = Broadcast.Plan(x.Shape, x.Shape, s.Shape);
        var y = new float[x.Length];
        Map(plan, x.Floats!, s.ToFloats(), y, (v, a) => v >= 0 ? v : a * v);
        ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
    }

    private static void InferClip(InferenceContext ctx)
    {
        var t = ctx.InputType(0);
        if (t == DataType.Bool || t == DataType.String) throw ctx.Unsupported($"input type {t.OnnxName()} is not supported");
        if (ctx.Opset >= 11)
            for (int k = 1; k <= 2; k++)
                if (ctx.HasInput(k) && ctx.InputShape(k) is { Length: > 0 } s && s.Product() is not { IsKnown: true, Factor: 1 })
                    throw ctx.Error($"input {k} ({(k == 1 ? "min" : "max")}) must be a scalar, got {s.Format()}");
        ctx.SetOutput(0, t, ctx.InputShape(0));
    }

    private static void ExecClip(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.Floats is { } xf)
        {
            float lo = float.NegativeInfinity, hi = float.PositiveInfinity;
            if (ctx.Opset < 11) { lo = ctx.Node.GetFloat("min", lo); hi = ctx.Node.GetFloat("max", hi); }
            else
            {
                if (ctx.OptionalInput(1) is { } mn) lo = mn.ToFloats()[0];
                if (ctx.OptionalInput(2) is { } mx) hi = mx.ToFloats()[0];
            }
            var y = new float[xf.Length];
            for (int i = 0; i < y.Length; i++) y[i] = MathF.Min(MathF.Max(xf[i], lo), hi);
            ctx.SetOutput(0, Tensor.FromFloats(y, x.Shape, x.Type));
        }
        else
        {
            long lo = long.MinValue, hi = long.MaxValue;
            if (ctx.OptionalInput(1) is { } mn) lo = mn.ResolveInts()[0];
            if (ctx.OptionalInput(2) is { } mx) hi = mx.ResolveInts()[0];
            var xi = x.ResolveInts();
            var y = new long[xi.Length];
            for (int i = 0; i < y.Length; i++) y[i] = Math.Min(Math.Max(xi[i], lo), hi);
            ctx.SetOutput(0, Tensor.FromInts(y, x.Shape, x.Type));
        }
    }

    private static void InferWhere(InferenceContext ctx)
    {
        if (ctx.InputType(0) != DataType.Bool) throw ctx.Error($"condition must be bool, got {ctx.InputType(0).OnnxName()}");
        DataType tx = ctx.InputType(1), ty = ctx.InputType(2);
        if (tx.IsFloating() != ty.IsFloating()) throw ctx.Error($"X and Y types differ: {tx.OnnxName()} and {ty.OnnxName()}");
        if (tx == DataType.String) throw ctx.Unsupported("string inputs are not supported");
        var shape = Broadcast.Shapes([ctx.InputShape(0), ctx.InputShape(1), ctx.InputShape(2)], out var why) ?? throw ctx.Error(why!);
        ctx.SetOutput(0, tx, shape);
    }

    private static void ExecWhere(KernelContext ctx)
    {
        var c = ctx.Input(0);
        var x = ctx.Input(1);
        var yv = ctx.Input(2);
        var shape = Broadcast.Shapes(c.Shape, x.Shape, yv.Shape);
        var plan = Broadcast.Plan(shape, c.Shape, x.Shape, yv.Shape);
        var ci = c.Ints!;
        long n = shape.ElementCount();
        if (x.Type.IsFloating())
        {
            float[] xf = x.Floats!, yf = yv.Floats!, r = new float[n];
            plan.ForEachRow((o, s, oo, len) =>
            {
                for (int k = 0; k < len; k++)
                    r[oo + k] = ci[o[0] + k * s[0]] != 0 ? xf[o[1] + k * s[1]] : yf[o[2] + k * s[2]];
            });
            ctx.SetOutput(0, Tensor.FromFloats(r, shape, x.Type));
        }
        else
        {
            long[] xi = x.ResolveInts(), yi = yv.ResolveInts(), r = new long[n];
            plan.ForEachRow((o, s, oo, len) =>
            {
                for (int k = 0; k < len; k++)
                    r[oo + k] = ci[o[0] + k * s[0]] != 0 ? xi[o[1] + k * s[1]] : yi[o[2] + k * s[2]];
            });
            ctx.SetOutput(0, Tensor.FromInts(r, shape, x.Type));
        }
    }

    private static void InferExpand(InferenceContext ctx)
    {
        var shapeValue = ctx.RequireConstant(1, "target shape");
        if (shapeValue.Rank != 1) throw ctx.Error($"shape input must be 1-D, got rank {shapeValue.Rank}");
        var target = shapeValue.AsDims();
        var x = ctx.InputShape(0);
        var shape = Broadcast.Shapes([x, target], out var why) ?? throw ctx.Error(why!);
        ctx.SetOutput(0, ctx.InputType(0), shape);
    }

    private static void ExecExpand(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var shape = Broadcast.Shapes(x.Shape, ctx.InputInts(1));
        ctx.SetOutput(0, Broadcast.Expand(x, shape));
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>Exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)), computed in double and rounded once.</summary>
    internal static float Gelu(float x) => (float)(0.5 * x * (1 + Erf(x / Math.Sqrt(2))));

    /// <summary>erf(x) to double precision (Abramowitz–Stegun 7.1.26 is too coarse for fp32 comparisons).</summary>
    internal static double Erf(double x)
    {
        // W. J. Cody's rational approximations, as used by many libms.
        double ax = Math.Abs(x);
        if (ax <= 0.46875)
        {
            double t = x * x;
            double num = (((0.185777706184603153 * t + 3.16112374387056560) * t + 113.864154151050156) * t + 377.485237685302021) * t + 3209.37758913846947;
            double den = (((t + 23.6012909523441209) * t + 244.024637934444173) * t + 1282.61652607737228) * t + 2844.23683343917062;
            return x * num / den;
        }
        double r;
        if (ax < 4)
        {
            double num = (((((((2.15311535474403846e-8 * ax + 0.564188496988670089) * ax + 8.88314979438837594) * ax + 66.1191906371416295) * ax
                + 298.635138197400131) * ax + 881.952221241769090) * ax + 1712.04761263407058) * ax + 2051.07837782607147) * ax + 1230.33935479799725;
            double den = (((((((ax + 15.7449261107098347) * ax + 117.693950891312499) * ax + 537.181101862009858) * ax + 1621.38957456669019) * ax
                + 3290.79923573345963) * ax + 4362.61909014324716) * ax + 3439.36767414372164) * ax + 1230.33935480374942;
            r = Math.Exp(-ax * ax) * num / den;
        }
        else
        {
            double z = 1 / (ax * ax);
            double num = ((((0.0163153871373020978 * z + 0.305326634961232344) * z + 0.360344899949804439) * z + 0.125781726111229246) * z + 0.0160837851487422766) * z + 6.58749161529837803e-4;
            double den = ((((z + 2.56852019228982242) * z + 1.87295284992346725) * z + 0.527905102951428412) * z + 0.0605183413124413191) * z + 2.33520497626869185e-3;
            r = Math.Exp(-ax * ax) / ax * (0.564189583547756287 - z * num / den);
        }
        double erf = 1 - r;
        return x < 0 ? -erf : erf;
    }
}
