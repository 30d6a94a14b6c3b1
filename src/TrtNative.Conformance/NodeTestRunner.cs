using Onnx;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Ops;
using TrtNative.Passes;
using TrtNative.Reference;

namespace TrtNative.Conformance;

/// <summary>How one backend node test ended.</summary>
public enum NodeTestOutcome
{
    /// <summary>Every output matched within tolerance.</summary>
    Passed,
    /// <summary>An output differed, or something threw; <see cref="NodeTestResult.Reason"/> says what.</summary>
    Failed,
    /// <summary>The model uses an op or a type outside the supported set; <see cref="NodeTestResult.Reason"/> names it.</summary>
    Skipped,
}

/// <summary>
/// Result of one node test: its directory name, outcome and (unless passed) why. <see cref="Error"/> is the code of
/// the <see cref="TrtNativeException"/> that failed the test (<see cref="ErrorCode.Unsupported"/>: the compiler
/// refused a form of a supported op), null for wrong values and for other exceptions (<see cref="ErrorCode.Internal"/>).
/// </summary>
public sealed record NodeTestResult(string Name, NodeTestOutcome Outcome, string? Reason = null, ErrorCode? Error = null)
{
    /// <summary>"PASS name", "FAIL name: reason" or "SKIP name: reason".</summary>
    public override string ToString() => Outcome switch
    {
        NodeTestOutcome.Passed => $"PASS {Name}",
        NodeTestOutcome.Failed => $"FAIL {Name}: {Reason}",
        _ => $"SKIP {Name}: {Reason}",
    };
}

/// <summary>Options of <see cref="NodeTestRunner"/>.</summary>
public sealed record NodeTestOptions
{
    /// <summary>Relative tolerance (ONNX backend tests use 1e-3).</summary>
    public double RelativeTolerance { get; init; } = 1e-3;
    /// <summary>Absolute tolerance (ONNX backend tests use 1e-7).</summary>
    public double AbsoluteTolerance { get; init; } = 1e-7;
    /// <summary>Ops considered supported; <see cref="OpRegistry.Default"/> when null.</summary>
    public OpRegistry? Registry { get; init; }
    /// <summary>
    /// Run <see cref="Optimizer.Optimize"/> before executing (the default). The optimizer uses the default registry,
    /// so a custom <see cref="Registry"/> should turn this off; shape inference then runs on its own.
    /// </summary>
    public bool Optimize { get; init; } = true;
    /// <summary>
    /// Runs the (un-optimized) graph instead of the optimizer + reference executor, e.g. a GPU engine build and run.
    /// It gets the graph with frozen inputs already made constants, and the remaining inputs.
    /// </summary>
    public Func<Graph, IReadOnlyDictionary<string, Tensor>, Dictionary<string, Tensor>>? Executor { get; init; }
}

/// <summary>
/// Runs ONNX backend node tests (a directory with model.onnx and test_data_set_*/input_*.pb, output_*.pb) through
/// the importer, the optimizer and the reference executor, and compares with the stored outputs the way ONNX's
/// backend test runner does: same shape, same kind of element type, |actual − expected| ≤ atol + rtol·|expected|
/// for floating outputs (NaN matches NaN) and exact equality for integer and bool outputs.
/// </summary>
/// <remarks>
/// Each data set is compiled on its own. When the graph cannot be built because an op needs an input at build time
/// (node tests pass Reshape's shape, Unsqueeze's axes, Tile's repeats as graph inputs, while an engine is built for
/// known shapes), it is built again with its integer inputs turned into constants holding the data set's values,
/// and failing that with all its inputs constants. An input whose data does not fit its declared shape (a few test
/// files disagree with their model; ONNX's runner does not check) is declared with the data's shape.
/// bfloat16 data, which ONNX's test generator stores as uint16, is read as bfloat16 where the model declares it.
/// </remarks>
public static class NodeTestRunner
{
    /// <summary>Runs every test directory under <paramref name="root"/> (sorted by name) whose name contains <paramref name="filter"/>.</summary>
    public static IEnumerable<NodeTestResult> RunAll(string root, string? filter = null, NodeTestOptions? options = null)
    {
        if (!Directory.Exists(root))
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"node test directory '{root}' does not exist");
        var dirs = Directory.GetDirectories(root)
            .Where(d => File.Exists(Path.Combine(d, "model.onnx")))
            .Where(d => filter is null || Path.GetFileName(d).Contains(filter, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        foreach (var d in dirs) yield return Run(d, options);
    }

    /// <summary>Runs the node test in <paramref name="testDirectory"/>. Never throws for a problem of the test itself.</summary>
    public static NodeTestResult Run(string testDirectory, NodeTestOptions? options = null)
    {
        options ??= new NodeTestOptions();
        var registry = options.Registry ?? OpRegistry.Default;
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(testDirectory));
        try
        {
            var modelPath = Path.Combine(testDirectory, "model.onnx");
            var model = OnnxImporter.Parse(File.ReadAllBytes(modelPath));
            if (UnsupportedOps(model, registry) is { } ops) return new(name, NodeTestOutcome.Skipped, ops);
            if (UnsupportedTypes(model) is { } types) return new(name, NodeTestOutcome.Skipped, types);

            var graph = OnnxImporter.Load(modelPath, registry);
            var dataSets = Directory.GetDirectories(testDirectory, "test_data_set_*").Order(StringComparer.Ordinal).ToList();
            if (dataSets.Count == 0) return new(name, NodeTestOutcome.Failed, "no test_data_set_* directory");

            foreach (var set in dataSets)
            {
                var inputFiles = NumberedFiles(set, "input_");
                var outputFiles = NumberedFiles(set, "output_");
                foreach (var f in inputFiles.Concat(outputFiles))
                    if (UnsupportedTensorFile(f) is { } why) return new(name, NodeTestOutcome.Skipped, why);
                if (inputFiles.Count != graph.Inputs.Count)
                    return new(name, NodeTestOutcome.Failed, $"{Path.GetFileName(set)} has {inputFiles.Count} inputs, the model {graph.Inputs.Count}");
                if (outputFiles.Count != graph.Outputs.Count)
                    return new(name, NodeTestOutcome.Failed, $"{Path.GetFileName(set)} has {outputFiles.Count} outputs, the model {graph.Outputs.Count}");

                var inputs = new Dictionary<string, Tensor>();
                for (int k = 0; k < inputFiles.Count; k++) inputs[graph.Inputs[k].Name] = ReadTestTensor(inputFiles[k], graph.Inputs[k].Type);
                var expected = outputFiles.Select((f, k) => ReadTestTensor(f, graph.Outputs[k].Type)).ToList();

                // ONNX's reference runner ignores declared input shapes, and a few tests' data disagree with them
                // (castlike's 'like' is declared [3,4] but stored as [1]): build for the data's shapes then.
                var data = graph.Clone();
                for (int k = 0; k < data.Inputs.Count; k++)
                    if (!Fits(data.Inputs[k].Shape, inputs[data.Inputs[k].Name].Shape))
                        data.Inputs[k] = data.Inputs[k] with { Shape = Shapes.Of(inputs[data.Inputs[k].Name].Shape) };

                Dictionary<string, Tensor> actual;
                try
                {
                    actual = Execute(data, inputs, frozen: [], options, registry);
                }
                catch (TrtNativeException e) when (e.Code == ErrorCode.Unsupported && data.Inputs.Count > 0)
                {
                    // Node tests feed shapes, axes, repeats and flags as graph inputs; our engines need those at build
                    // time (an engine is built for given shapes), so build again with the integer inputs as constants,
                    // then with every input a constant (the graph is then computed by constant folding).
                    var integral = data.Inputs.Where(i => i.Type.IsIntegral()).Select(i => i.Name).ToHashSet();
                    var all = data.Inputs.Select(i => i.Name).ToHashSet();
                    actual = null!;
                    TrtNativeException? last = null;
                    foreach (var frozen in integral.Count > 0 && integral.Count < all.Count ? [integral, all] : new[] { all })
                    {
                        try
                        {
                            actual = Execute(data, inputs, frozen, options, registry);
                            last = null;
                            break;
                        }
                        catch (TrtNativeException again) when (again.Code == ErrorCode.Unsupported)
                        {
                            last = again;
                        }
                    }
                    if (last is not null)
                        return new(name, NodeTestOutcome.Failed, $"{e.Code}: {e.Message} (with inputs as constants: {last.Code}: {last.Message})", last.Code);
                }

                for (int k = 0; k < expected.Count; k++)
                {
                    var outName = graph.Outputs[k].Name;
                    if (!actual.TryGetValue(outName, out var got))
                        return new(name, NodeTestOutcome.Failed, $"output '{outName}' was not produced");
                    if (Compare(expected[k], got, options.RelativeTolerance, options.AbsoluteTolerance) is { } diff)
                        return new(name, NodeTestOutcome.Failed, $"{Path.GetFileName(set)} output '{outName}': {diff}");
                }
            }
            return new(name, NodeTestOutcome.Passed);
        }
        catch (TrtNativeException e)
        {
            return new(name, NodeTestOutcome.Failed, $"{e.Code}: {e.Message}", e.Code);
        }
        catch (Exception e)
        {
            return new(name, NodeTestOutcome.Failed, $"{e.GetType().Name}: {e.Message}", ErrorCode.Internal);
        }
    }

    private static bool Fits(Dim[]? declared, long[] shape) =>
        declared is null || declared.Length == shape.Length && declared.Zip(shape).All(p => !p.First.IsKnown || p.First.Value == p.Second);

    /// <summary>Compiles <paramref name="graph"/> (inputs named in <paramref name="frozen"/> made constants) and runs it.</summary>
    private static Dictionary<string, Tensor> Execute(Graph graph, Dictionary<string, Tensor> inputs, HashSet<string> frozen,
        NodeTestOptions options, OpRegistry registry)
    {
        var g = graph.Clone();
        if (frozen.Count > 0)
        {
            g.Inputs.RemoveAll(i => frozen.Contains(i.Name));
            foreach (var f in frozen) g.Initializers[f] = inputs[f];
        }
        if (options.Executor is { } run)
            return run(g, inputs.Where(i => !frozen.Contains(i.Key)).ToDictionary(i => i.Key, i => i.Value));
        Graph runnable;
        if (options.Optimize)
            runnable = Optimizer.Optimize(g, new PassLog());
        else
        {
            runnable = g;
            ShapeInference.Run(runnable, registry);
        }
        var feed = inputs.Where(i => !frozen.Contains(i.Key)).ToDictionary(i => i.Key, i => i.Value);
        return ReferenceExecutor.Run(runnable, feed, null, registry);
    }

    /// <summary>
    /// Reads a test tensor. ONNX's test generator stores bfloat16 data as uint16 (numpy has no bfloat16): the bits
    /// are bfloat16 when the model declares that type.
    /// </summary>
    private static Tensor ReadTestTensor(string path, DataType declared)
    {
        var proto = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        if (declared == DataType.BFloat16 && proto.DataType == (int)DataType.UInt16) proto.DataType = (int)DataType.BFloat16;
        return OnnxTensors.FromProto(proto, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    /// <summary>
    /// Null when <paramref name="actual"/> matches <paramref name="expected"/> (shape, kind of type, values within
    /// tolerance); otherwise a description of the difference.
    /// </summary>
    public static string? Compare(Tensor expected, Tensor actual, double rtol = 1e-3, double atol = 1e-7)
    {
        if (!expected.Shape.SequenceEqual(actual.Shape))
            return $"shape {actual.Shape.Format()}, expected {expected.Shape.Format()}";
        if (TypeClass(expected.Type) != TypeClass(actual.Type))
            return $"type {actual.Type.OnnxName()}, expected {expected.Type.OnnxName()}";
        if (expected.Type.IsFloating())
        {
            float[] e = expected.Floats!, a = actual.ToFloats();
            int bad = 0, first = -1;
            double maxAbs = 0, maxRel = 0;
            for (int i = 0; i < e.Length; i++)
            {
                double x = e[i], y = a[i];
                if (double.IsNaN(x) || double.IsNaN(y) || double.IsInfinity(x) || double.IsInfinity(y))
                {
                    if (x.Equals(y)) continue; // NaN == NaN and equal infinities match, as in numpy's assert_allclose
                    bad++; if (first < 0) first = i;
                    maxAbs = double.PositiveInfinity;
                    continue;
                }
                double abs = Math.Abs(x - y), rel = x != 0 ? abs / Math.Abs(x) : abs > 0 ? double.PositiveInfinity : 0;
                if (abs > atol + rtol * Math.Abs(x)) { bad++; if (first < 0) first = i; maxAbs = Math.Max(maxAbs, abs); maxRel = Math.Max(maxRel, rel); }
            }
            if (bad == 0) return null;
            return $"{bad} of {e.Length} values differ, max abs error {maxAbs:G3}, max rel error {maxRel:G3} " +
                   $"(rtol {rtol:G3}, atol {atol:G3}); first at index {first}: got {a[first]:G9}, expected {e[first]:G9}";
        }
        else
        {
            long[] e = expected.Ints!, a = actual.ResolveInts();
            int bad = 0, first = -1;
            for (int i = 0; i < e.Length; i++) if (e[i] != a[i]) { bad++; if (first < 0) first = i; }
            return bad == 0 ? null : $"{bad} of {e.Length} values differ; first at index {first}: got {a[first]}, expected {e[first]}";
        }
    }

    private static int TypeClass(DataType t) => t.IsFloating() ? 0 : t == DataType.Bool ? 2 : 1;

    private static List<string> NumberedFiles(string dir, string prefix)
    {
        var files = new List<string>();
        for (int k = 0; File.Exists(Path.Combine(dir, $"{prefix}{k}.pb")); k++) files.Add(Path.Combine(dir, $"{prefix}{k}.pb"));
        return files;
    }

    private static string? UnsupportedOps(ModelProto model, OpRegistry registry)
    {
        long opset = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx").Select(o => o.Version).DefaultIfEmpty(1).First();
        var missing = new List<string>();
        foreach (var n in model.Graph.Node)
        {
            var domain = n.Domain == "ai.onnx" ? "" : n.Domain;
            if (registry.Find(domain, n.OpType, (int)opset) is not null) continue;
            string op = domain.Length == 0 ? n.OpType : $"{domain}.{n.OpType}";
            if (registry.Knows(domain, n.OpType)) op += $" at opset {opset}";
            if (!missing.Contains(op)) missing.Add(op);
        }
        return missing.Count switch
        {
            0 => null,
            1 => $"op {missing[0]} not supported",
            _ => $"ops {string.Join(", ", missing)} not supported",
        };
    }

    private static string? UnsupportedTypes(ModelProto model)
    {
        var g = model.Graph;
        foreach (var vi in g.Input.Concat(g.Output))
        {
            var tp = vi.Type;
            if (tp is null || tp.ValueCase == TypeProto.ValueOneofCase.None) continue;
            if (tp.ValueCase != TypeProto.ValueOneofCase.TensorType)
                return $"type {tp.ValueCase} not supported ('{vi.Name}')";
            int t = tp.TensorType.ElemType;
            if (t != 0 && !OnnxTensors.IsSupported(t)) return $"type {OnnxTensors.TypeName(t)} not supported ('{vi.Name}')";
        }
        foreach (var t in g.Initializer)
            if (!OnnxTensors.IsSupported(t.DataType)) return $"type {OnnxTensors.TypeName(t.DataType)} not supported ('{t.Name}')";
        foreach (var n in g.Node)
            foreach (var a in n.Attribute)
            {
                if (a.Type == AttributeProto.Types.AttributeType.Tensor && a.T is { } t && !OnnxTensors.IsSupported(t.DataType))
                    return $"type {OnnxTensors.TypeName(t.DataType)} not supported (attribute '{a.Name}' of {n.OpType})";
                if (a.Type is AttributeProto.Types.AttributeType.SparseTensor or AttributeProto.Types.AttributeType.SparseTensors)
                    return $"type sparse tensor not supported (attribute '{a.Name}' of {n.OpType})";
                // A Cast or similar to an unsupported element type (e.g. Cast to string).
                if (a.Name is "to" or "dtype" && a.Type == AttributeProto.Types.AttributeType.Int && a.I != 0 && !OnnxTensors.IsSupported((int)a.I))
                    return $"type {OnnxTensors.TypeName((int)a.I)} not supported (attribute '{a.Name}' of {n.OpType})";
            }
        return null;
    }

    private static string? UnsupportedTensorFile(string path)
    {
        var t = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        return OnnxTensors.IsSupported(t.DataType) ? null : $"type {OnnxTensors.TypeName(t.DataType)} not supported ({Path.GetFileName(path)})";
    }
}
