using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TrtNative.Interop;

namespace TrtNative.Compiler;

/// <summary>What the managed side knows about one native layer kind (trtn_layer_kind).</summary>
/// <param name="Kind">The kind.</param>
/// <param name="ParamsType">The C# mirror of its parameter struct (checked field by field against the header by a test).</param>
/// <param name="ParamsSize">sizeof the parameter struct; compared with trtn_layer_params_size at load.</param>
/// <param name="MinInputs">Inputs that must be present (the shim's trtn_engine_add_layer checks the same numbers).</param>
/// <param name="Tunable">True when trtn_context_autotune times candidate tactics for it.</param>
/// <param name="TacticField">The parameter struct's tactic field, or null for kinds without one.</param>
internal sealed record LayerKindInfo(LayerKind Kind, Type ParamsType, int ParamsSize, int MinInputs, bool Tunable, string? TacticField)
{
    /// <summary>Byte offset of the tactic field in the parameter block, -1 for kinds without one.</summary>
    public int TacticOffset { get; } = TacticField is null ? -1 : (int)Marshal.OffsetOf(ParamsType, TacticField);
}

/// <summary>
/// The native layer kinds, declared once: the plan's tunable layers and tactic fields (<see cref="ProgramLayer"/>), the
/// struct-size check at load (<see cref="NativeLibraryLoader"/>) and the lowering's own checks all read this table.
/// Native side: native/include/trtnative.h (kind numbers, structs) and native/src/engine.cpp (minimum inputs, which
/// layers carry a tactic) must agree with it; see ADDING-AN-OP.md.
/// </summary>
internal static class LayerKinds
{
    public static readonly LayerKindInfo[] All =
    [
        Row<ConvParams>(LayerKind.Conv, minInputs: 2, tunable: true, nameof(ConvParams.Tactic)),
        Row<GemmParams>(LayerKind.Gemm, minInputs: 2, tunable: true, nameof(GemmParams.Tactic)),
        Row<BinaryParams>(LayerKind.Binary, minInputs: 2),
        Row<UnaryParams>(LayerKind.Unary, minInputs: 1),
        Row<PoolParams>(LayerKind.Pool, minInputs: 1),
        Row<SoftmaxParams>(LayerKind.Softmax, minInputs: 1),
        Row<LayerNormParams>(LayerKind.LayerNorm, minInputs: 2),
        Row<ReduceParams>(LayerKind.Reduce, minInputs: 1),
        Row<CopyParams>(LayerKind.Copy, minInputs: 1),
        Row<ConcatParams>(LayerKind.Concat, minInputs: 1),
        Row<ResizeParams>(LayerKind.Resize, minInputs: 1),
        Row<GatherParams>(LayerKind.Gather, minInputs: 2),
        Row<PadParams>(LayerKind.Pad, minInputs: 1),
        // Autotuning times the shim's kernels against cuDNN's flash attention (attention.cpp).
        Row<AttentionParams>(LayerKind.Attention, minInputs: 3, tunable: true, nameof(AttentionParams.Tactic)),
    ];

    private static readonly Dictionary<LayerKind, LayerKindInfo> s_byKind = All.ToDictionary(k => k.Kind);

    private static LayerKindInfo Row<T>(LayerKind kind, int minInputs, bool tunable = false, string? tactic = null) where T : unmanaged =>
        new(kind, typeof(T), Unsafe.SizeOf<T>(), minInputs, tunable, tactic);

    /// <summary>The row of <paramref name="kind"/>, or null for a number that is no kind (a damaged plan).</summary>
    public static LayerKindInfo? Find(LayerKind kind) => s_byKind.GetValueOrDefault(kind);

    /// <summary>The row of <paramref name="kind"/>.</summary>
    public static LayerKindInfo Of(LayerKind kind) =>
        Find(kind) ?? throw new ArgumentOutOfRangeException(nameof(kind), kind, "not a layer kind of this TrtNative");
}
