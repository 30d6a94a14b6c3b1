using TrtNative.Compiler;
using TrtNative.Ir;

namespace TrtNative.Runtime;

/// <summary>A node that runs in fp32 in a reduced-precision program, and why.</summary>
/// <param name="Node">The node's name in the optimized graph.</param>
/// <param name="Op">Its op ("Conv", "trtnative.FusedConv").</param>
/// <param name="Reason">Why it was kept in fp32, for people: "fp32 output reaches 1.2e+05, beyond fp16's range".</param>
public sealed record PrecisionChoice(string Node, string Op, string Reason)
{
    /// <summary>"conv2 (Conv): fp32 output reaches 1.2e+05, beyond fp16's range".</summary>
    public override string ToString() => $"{Node} ({Op}): {Reason}";
}

/// <summary>
/// The limits automatic mixed precision holds a reduced-precision engine to, against an fp32 engine of the same model
/// on the calibration inputs.
/// </summary>
/// <param name="OutputRelL2">Largest relative L2 error of each engine output (fp16: 1e-2, the GPU tests' budget).</param>
/// <param name="LayerRelL2">A node whose output drifts further than this while its inputs do not is kept in fp32.</param>
/// <param name="RangeLimit">A value whose fp32 magnitude exceeds this cannot be trusted to the reduced type: its
/// producer and its readers are kept in fp32 (fp16: half of 65504, headroom for inputs the calibration did not see).</param>
internal sealed record PrecisionBudget(double OutputRelL2, double LayerRelL2, double RangeLimit)
{
    /// <summary>Largest finite fp16 value.</summary>
    public const double Fp16Max = 65504;

    /// <summary>The budget of an fp16 engine.</summary>
    public static PrecisionBudget Fp16 { get; } = new(1e-2, 1e-2, Fp16Max / 2);

    /// <summary>The budget of a bf16 engine: rel L2 2e-2 (8 significant bits); its range is fp32's.</summary>
    public static PrecisionBudget Bf16 { get; } = new(2e-2, 2e-2, float.MaxValue / 2.0);

    /// <summary>The budget of an engine of <paramref name="precision"/> (fp16 or bf16).</summary>
    public static PrecisionBudget For(Precision precision) => precision == Precision.Bf16 ? Bf16 : Fp16;
}

/// <summary>How one observed value of the reduced-precision engine compares with the fp32 engine's, over all calibration runs.</summary>
/// <param name="Value">The value's name (a node output of the optimized graph).</param>
/// <param name="RelL2">‖reduced − fp32‖ / ‖fp32‖ over the finite elements.</param>
/// <param name="NonFinite">NaN or infinite elements in the reduced engine's value where the fp32 engine's is finite.</param>
/// <param name="ReferenceNonFinite">NaN or infinite elements in the fp32 engine's value.</param>
/// <param name="ReferenceMaxAbs">Largest finite magnitude of the fp32 engine's value.</param>
internal sealed record ValueDrift(string Value, double RelL2, long NonFinite, long ReferenceNonFinite, double ReferenceMaxAbs)
{
    /// <summary>Compares the values of one name over several runs (pairs of reduced and fp32 results, same lengths).</summary>
    public static ValueDrift Of(string value, IEnumerable<(float[] Reduced, float[] Reference)> runs)
    {
        double num = 0, den = 0, max = 0;
        long bad = 0, refBad = 0;
        foreach (var (a, b) in runs)
        {
            if (a.Length != b.Length) throw new ArgumentException($"'{value}': {a.Length} values against {b.Length} fp32 values");
            for (int i = 0; i < a.Length; i++)
            {
                if (!float.IsFinite(b[i])) { refBad++; continue; }
                max = Math.Max(max, Math.Abs(b[i]));
                if (!float.IsFinite(a[i])) { bad++; continue; }
                double d = (double)a[i] - b[i];
                num += d * d;
                den += (double)b[i] * b[i];
            }
        }
        return new ValueDrift(value, num == 0 ? 0 : Math.Sqrt(num / Math.Max(den, 1e-300)), bad, refBad, max);
    }

    /// <summary>"rel L2 3.1e-04, 0 non-finite, fp32 max |x| 2.5e+01".</summary>
    public override string ToString() => $"{Value}: rel L2 {RelL2:E2}, {NonFinite} non-finite, fp32 max |x| {ReferenceMaxAbs:E2}";
}

/// <summary>How far one node's output is from fp32's, for people (<see cref="Builder.CompareNodesWithFp32"/>).</summary>
/// <param name="Node">The node of the optimized graph.</param>
/// <param name="Op">Its op.</param>
/// <param name="Value">The output compared.</param>
/// <param name="RelL2">Relative L2 error against fp32 over the finite elements.</param>
/// <param name="NonFinite">NaN or infinite elements in the reduced-precision value.</param>
/// <param name="Fp32MaxAbs">Largest magnitude of the fp32 value.</param>
/// <param name="KeptInFp32">Whether the node itself ran in fp32.</param>
/// <param name="Diverges">Its output has NaN/inf or drifts past the per-node budget (fp16: rel L2 1e-2).</param>
public sealed record NodeDrift(string Node, string Op, string Value, double RelL2, long NonFinite, double Fp32MaxAbs, bool KeptInFp32, bool Diverges)
{
    /// <summary>"conv_big (Conv) -> c2: rel L2 3.1e-04, 0 NaN/inf, fp32 max |x| 1.5e+05".</summary>
    public override string ToString() =>
        $"{Node} ({Op}{(KeptInFp32 ? ", kept in fp32" : "")}) -> {Value}: rel L2 {RelL2:E2}, {NonFinite} NaN/inf, fp32 max |x| {Fp32MaxAbs:E2}";
}

/// <summary>What the search for fp32 nodes found.</summary>
/// <param name="KeepFp32">Nodes to keep in fp32, each with its reason, in the order they were chosen.</param>
/// <param name="Outputs">The engine outputs' drift with those nodes in fp32 (the last calibration run).</param>
/// <param name="WithinBudget">Whether those outputs are finite and within the budget.</param>
/// <param name="Rounds">Reduced-precision calibration runs made.</param>
internal sealed record ProtectionResult(IReadOnlyDictionary<string, string> KeepFp32, IReadOnlyList<ValueDrift> Outputs, bool WithinBudget, int Rounds);

/// <summary>
/// Automatic mixed precision: compares a reduced-precision program with an fp32 one node by node on calibration inputs
/// and chooses the nodes to run in fp32, repeating until the outputs are within budget. The comparison and the choice
/// are plain functions of the per-node numbers (tested on the CPU with synthetic numbers); the runs are the caller's
/// (engines on the GPU in <see cref="Builder"/>, the program interpreter in the CPU tests).
/// </summary>
internal static class PrecisionProtection
{
    /// <summary>Bound on reduced-precision calibration rounds (each one a lowering, an engine and the runs).</summary>
    public const int MaxRounds = 4;

    /// <summary>
    /// Runs the search. <paramref name="runReduced"/> runs the reduced-precision program with the given nodes kept in
    /// fp32 on every calibration input and returns each run's observed values by name; <paramref name="reference"/> is
    /// the fp32 program's, run for run.
    /// </summary>
    public static ProtectionResult Search(Graph optimized, PrecisionBudget budget, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> reference,
        Func<IReadOnlyDictionary<string, string>, IReadOnlyList<IReadOnlyDictionary<string, Tensor>>> runReduced, Action<string>? log = null)
    {
        var keep = new Dictionary<string, string>(StringComparer.Ordinal);
        var order = new List<string>();
        for (int round = 1; ; round++)
        {
            var drift = Compare(runReduced(keep), reference);
            var outputs = optimized.Outputs.Select(o => drift.TryGetValue(o.Name, out var d) ? d
                : throw new InvalidOperationException($"calibration produced no value for output '{o.Name}'")).ToList();
            bool ok = OutputsWithinBudget(outputs, budget);
            var chosen = Choose(optimized, drift, keep.Keys.ToHashSet(StringComparer.Ordinal), budget, !ok);
            log?.Invoke($"precision round {round}: {string.Join("; ", outputs)}; {(chosen.Count == 0 ? "no node to keep in fp32" : $"keeping {chosen.Count} more in fp32")}");
            if (chosen.Count == 0 || round == MaxRounds)
            {
                if (chosen.Count > 0) log?.Invoke($"precision: stopped after {MaxRounds} rounds with {chosen.Count} more node(s) out of budget");
                var ordered = order.ToDictionary(n => n, n => keep[n], StringComparer.Ordinal);
                return new ProtectionResult(ordered, outputs, ok && chosen.Count == 0, round);
            }
            foreach (var (node, reason) in chosen)
            {
                keep[node] = reason;
                order.Add(node);
                log?.Invoke($"  keep {node} in fp32: {reason}");
            }
        }
    }

    /// <summary>Drift of every value the two sets of runs both hold.</summary>
    public static Dictionary<string, ValueDrift> Compare(IReadOnlyList<IReadOnlyDictionary<string, Tensor>> reduced, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> reference)
    {
        if (reduced.Count != reference.Count) throw new ArgumentException($"{reduced.Count} reduced runs against {reference.Count} fp32 runs");
        var result = new Dictionary<string, ValueDrift>(StringComparer.Ordinal);
        if (reduced.Count == 0) return result;
        foreach (var name in reference[0].Keys.Where(reduced[0].ContainsKey))
            result[name] = ValueDrift.Of(name, Enumerable.Range(0, reduced.Count).Select(i => (reduced[i][name].Floats!, reference[i][name].Floats!)));
        return result;
    }

    /// <summary>
    /// The drift of every observed node output, in graph order; a node diverges where its output has NaN/inf or
    /// drifts past <see cref="PrecisionBudget.LayerRelL2"/>.
    /// </summary>
    public static IReadOnlyList<NodeDrift> ByNode(Graph optimized, IReadOnlyDictionary<string, ValueDrift> drift, IReadOnlySet<string> kept, PrecisionBudget budget) =>
        optimized.Nodes.SelectMany(n => n.Outputs.Where(v => v.Length > 0 && drift.ContainsKey(v)).Select(v =>
        {
            var d = drift[v];
            return new NodeDrift(n.Name, n.QualifiedOp, v, d.RelL2, d.NonFinite, d.ReferenceMaxAbs, kept.Contains(n.Name),
                d.NonFinite > 0 || d.RelL2 > budget.LayerRelL2);
        })).ToList();

    /// <summary>Whether every output is finite where fp32 is and within <see cref="PrecisionBudget.OutputRelL2"/>.</summary>
    public static bool OutputsWithinBudget(IEnumerable<ValueDrift> outputs, PrecisionBudget budget) =>
        outputs.All(o => o.NonFinite == 0 && o.RelL2 <= budget.OutputRelL2);

    /// <summary>
    /// The nodes (not yet kept) to run in fp32 next, with reasons. In order of priority:
    /// range — a value whose fp32 magnitude exceeds <see cref="PrecisionBudget.RangeLimit"/>: its producer and every
    /// node that reads it; overflow — a node whose reduced output has NaN/inf where fp32's is finite while its inputs
    /// have none: where the non-finite values start; drift (only when <paramref name="outputsOverBudget"/> and neither rule
    /// found a node) — a node whose output drifts past <see cref="PrecisionBudget.LayerRelL2"/> while its inputs do not,
    /// else the one such node whose drift grows the most over its inputs'.
    /// </summary>
    public static Dictionary<string, string> Choose(Graph optimized, IReadOnlyDictionary<string, ValueDrift> drift, IReadOnlySet<string> kept,
        PrecisionBudget budget, bool outputsOverBudget)
    {
        var chosen = new Dictionary<string, string>(StringComparer.Ordinal);
        void Add(Node n, string reason)
        {
            if (!kept.Contains(n.Name)) chosen.TryAdd(n.Name, reason);
        }
        ValueDrift? D(string v) => v.Length > 0 && drift.TryGetValue(v, out var d) ? d : null;

        foreach (var n in optimized.Nodes)
            foreach (var d in n.Outputs.Select(D).OfType<ValueDrift>().Where(d => d.ReferenceMaxAbs > budget.RangeLimit))
            {
                Add(n, $"fp32 output '{d.Value}' reaches {d.ReferenceMaxAbs:E2}, beyond the reduced type's safe range ({budget.RangeLimit:E2})");
                foreach (var reader in optimized.Nodes.Where(r => r.Inputs.Contains(d.Value)))
                    Add(reader, $"reads '{d.Value}', which reaches {d.ReferenceMaxAbs:E2} in fp32, beyond the reduced type's safe range ({budget.RangeLimit:E2})");
            }
        foreach (var n in optimized.Nodes)
        {
            if (n.Inputs.Select(D).Any(d => d is { NonFinite: > 0 })) continue;
            // NonFinite counts only elements where fp32 is finite: fp32's own infinities (a mask) neither hide an
            // overflow elsewhere in the value nor count as one.
            foreach (var d in n.Outputs.Select(D).OfType<ValueDrift>().Where(d => d.NonFinite > 0))
                Add(n, $"output '{d.Value}' has {d.NonFinite} NaN/inf values in the reduced type, none in fp32");
        }
        if (chosen.Count > 0 || !outputsOverBudget) return chosen;

        double InputDrift(Node n) => n.Inputs.Select(D).OfType<ValueDrift>().Select(d => d.RelL2).DefaultIfEmpty(0).Max();
        double OutputDrift(Node n) => n.Outputs.Select(D).OfType<ValueDrift>().Select(d => d.RelL2).DefaultIfEmpty(0).Max();
        var candidates = optimized.Nodes.Where(n => !kept.Contains(n.Name) && OutputDrift(n) > budget.LayerRelL2).ToList();
        foreach (var n in candidates.Where(n => InputDrift(n) <= budget.LayerRelL2))
            Add(n, $"output drifts from fp32 by rel L2 {OutputDrift(n):E2} (budget {budget.LayerRelL2:E0}) while its inputs drift {InputDrift(n):E2}");
        if (chosen.Count > 0) return chosen;
        var worst = candidates.OrderByDescending(n => OutputDrift(n) / Math.Max(InputDrift(n), 1e-12)).FirstOrDefault();
        if (worst is not null)
            Add(worst, $"the outputs are over budget; its drift grows most, rel L2 {InputDrift(worst):E2} in, {OutputDrift(worst):E2} out");
        return chosen;
    }
}
