using System.Collections.Frozen;
using System.Runtime.InteropServices;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Ops;

namespace TrtNative.Compiler;

/// <summary>
/// Lowers an optimized graph into a <see cref="LayerProgram"/> for the GPU shim: the compiler decides layouts,
/// precision and parameters; the shim only executes.
/// </summary>
/// <remarks>
/// Layouts: every value carries a permutation from its logical (ONNX) axes to memory order. Convolutions and
/// pools want NHWC; element-wise ops, softmax, reductions, concat and slices work in whatever order their input
/// has; reshapes, matrix products and layer norms want the logical order. Conversions are inserted lazily where a
/// consumer needs another order, and a Transpose costs nothing (it only changes the permutation). A conversion
/// between orders that differ only in size-1 axes is an alias, not a copy.
/// Precision: in fp16 mode every activation and weight is fp16 (fp32 accumulation in the kernels); engine inputs
/// and outputs stay fp32 and are converted at the edges. Conv biases and layer-norm parameters stay fp32. Nodes named
/// in <see cref="LoweringOptions.KeepFp32"/> run in fp32 with fp32 weights (mixed precision): a layer whose activation
/// input has another float type reads a converted copy, so conversions appear only at precision boundaries.
/// </remarks>
internal sealed class GpuLowering
{
    /// <summary>
    /// Every op (ai.onnx domain, or "trtnative." + a fused op of our passes) this lowering handles, and how. The
    /// supported-op list and the dispatch in <see cref="LowerNode"/> both come from this table.
    /// </summary>
    private static readonly (string Op, Action<GpuLowering, Node> Lower)[] Lowerings =
    [
        ("Conv", (l, n) => l.LowerConv(n)),
        ("trtnative.FusedConv", (l, n) => l.LowerConv(n)),
        ("MaxPool", (l, n) => l.LowerPool(n, global: false)),
        ("AveragePool", (l, n) => l.LowerPool(n, global: false)),
        ("GlobalAveragePool", (l, n) => l.LowerPool(n, global: true)),
        ("GlobalMaxPool", (l, n) => l.LowerPool(n, global: true)),
        ("Gemm", (l, n) => l.LowerGemm(n)),
        ("trtnative.FusedGemm", (l, n) => l.LowerGemm(n)),
        ("MatMul", (l, n) => l.LowerMatMul(n)),
        ("trtnative.FusedMatMul", (l, n) => l.LowerMatMul(n)),
        ("trtnative.Attention", (l, n) => l.LowerAttention(n)),
        ("Add", (l, n) => l.LowerBinary(n, BinaryOp.Add)),
        ("Sub", (l, n) => l.LowerBinary(n, BinaryOp.Sub)),
        ("Mul", (l, n) => l.LowerBinary(n, BinaryOp.Mul)),
        ("Div", (l, n) => l.LowerBinary(n, BinaryOp.Div)),
        ("Pow", (l, n) => l.LowerBinary(n, BinaryOp.Pow)),
        ("Max", (l, n) => l.LowerBinary(n, BinaryOp.Max)),
        ("Min", (l, n) => l.LowerBinary(n, BinaryOp.Min)),
        ("PRelu", (l, n) => l.LowerBinary(n, BinaryOp.PRelu)),
        ("Relu", (l, n) => l.LowerUnary(n, UnaryOp.Relu)),
        ("Sigmoid", (l, n) => l.LowerUnary(n, UnaryOp.Sigmoid)),
        ("Tanh", (l, n) => l.LowerUnary(n, UnaryOp.Tanh)),
        ("LeakyRelu", (l, n) => l.LowerUnary(n, UnaryOp.LeakyRelu, n.GetFloat("alpha", 0.01f))),
        ("Clip", (l, n) => l.LowerClip(n)),
        ("HardSigmoid", (l, n) => l.LowerUnary(n, UnaryOp.HardSigmoid, n.GetFloat("alpha", 0.2f), n.GetFloat("beta", 0.5f))),
        ("HardSwish", (l, n) => l.LowerUnary(n, UnaryOp.HardSwish)),
        ("Elu", (l, n) => l.LowerUnary(n, UnaryOp.Elu, n.GetFloat("alpha", 1f))),
        ("Selu", (l, n) => l.LowerUnary(n, UnaryOp.Selu, n.GetFloat("alpha", 1.67326319217681884765625f), n.GetFloat("gamma", 1.05070102214813232421875f))),
        ("Gelu", (l, n) => l.LowerGelu(n)),
        ("trtnative.Gelu", (l, n) => l.LowerGelu(n)),
        ("Exp", (l, n) => l.LowerUnary(n, UnaryOp.Exp)),
        ("Log", (l, n) => l.LowerUnary(n, UnaryOp.Log)),
        ("Sqrt", (l, n) => l.LowerUnary(n, UnaryOp.Sqrt)),
        ("Neg", (l, n) => l.LowerUnary(n, UnaryOp.Neg)),
        ("Abs", (l, n) => l.LowerUnary(n, UnaryOp.Abs)),
        ("Erf", (l, n) => l.LowerUnary(n, UnaryOp.Erf)),
        ("Reciprocal", (l, n) => l.LowerUnary(n, UnaryOp.Reciprocal)),
        ("Floor", (l, n) => l.LowerUnary(n, UnaryOp.Floor)),
        ("Ceil", (l, n) => l.LowerUnary(n, UnaryOp.Ceil)),
        ("Softplus", (l, n) => l.LowerUnary(n, UnaryOp.Softplus)),
        ("Sin", (l, n) => l.LowerUnary(n, UnaryOp.Sin)),
        ("Cos", (l, n) => l.LowerUnary(n, UnaryOp.Cos)),
        ("Round", (l, n) => l.LowerUnary(n, UnaryOp.Round)),
        ("Sign", (l, n) => l.LowerUnary(n, UnaryOp.Sign)),
        ("Softmax", (l, n) => l.LowerSoftmax(n, log: false)),
        ("LogSoftmax", (l, n) => l.LowerSoftmax(n, log: true)),
        ("LayerNormalization", (l, n) => l.LowerLayerNorm(n)),
        ("BatchNormalization", (l, n) => l.LowerBatchNorm(n)),
        ("ReduceMean", (l, n) => l.LowerReduce(n, 0)),
        ("ReduceSum", (l, n) => l.LowerReduce(n, 1)),
        ("ReduceMax", (l, n) => l.LowerReduce(n, 2)),
        ("ReduceMin", (l, n) => l.LowerReduce(n, 3)),
        ("ReduceSumSquare", (l, n) => l.LowerReduce(n, 4)),
        ("ReduceL2", (l, n) => l.LowerReduce(n, 5)),
        ("Reshape", (l, n) => l.LowerReshape(n)),
        ("Flatten", (l, n) => l.LowerReshape(n)),
        ("Squeeze", (l, n) => l.LowerReshape(n)),
        ("Unsqueeze", (l, n) => l.LowerReshape(n)),
        ("Transpose", (l, n) => l.LowerTranspose(n)),
        ("Concat", (l, n) => l.LowerConcat(n)),
        ("Gather", (l, n) => l.LowerGather(n)),
        ("Slice", (l, n) => l.LowerSlice(n)),
        ("Split", (l, n) => l.LowerSplit(n)),
        ("Expand", (l, n) => l.LowerExpand(n)),
        ("Identity", (l, n) => l.LowerIdentity(n)),
        ("Dropout", (l, n) => l.LowerIdentity(n)),
        ("Cast", (l, n) => l.LowerCast(n)),
        ("Pad", (l, n) => l.LowerPad(n)),
        ("Resize", (l, n) => l.LowerResize(n)),
    ];

    private static readonly FrozenDictionary<string, Action<GpuLowering, Node>> s_lowerByOp = Lowerings.ToFrozenDictionary(r => r.Op, r => r.Lower);

    /// <summary>The ops this lowering handles, in <see cref="Lowerings"/>' order.</summary>
    public static readonly string[] SupportedOps = Lowerings.Select(r => r.Op).ToArray();

    private sealed record Val(int Tensor, Dim[] Logical, int[] Perm);

    private static readonly int[] Nhwc = [0, 2, 3, 1];

    private readonly Graph _g;
    private readonly Dictionary<string, Tensor> _known;
    private readonly LayerProgram _p;
    private readonly Dictionary<string, Val> _vals = new();
    private readonly Dictionary<(int, string), Val> _converted = new();
    private readonly Dictionary<(int, NativeDType), int> _retyped = new();
    private readonly Dictionary<(string, NativeDType), Val> _constants = new();
    private readonly LoweringOptions _options;
    private Node _node = null!;

    private GpuLowering(Graph g, Dictionary<string, Tensor> known, LoweringOptions options)
    {
        _g = g;
        _known = known;
        _options = options;
        _p = new LayerProgram { ActivationType = options.Activation };
    }

    /// <summary>The float type the current node computes in: the program's, or fp32 for a node kept in fp32.</summary>
    private NativeDType Act => _node is not null && _options.KeepFp32.ContainsKey(_node.Name) ? NativeDType.Float32 : _p.ActivationType;

    /// <summary>Lowers <paramref name="graph"/> (optimized; shapes are re-inferred here on a copy).</summary>
    /// <exception cref="TrtNativeException">Unsupported naming the node, op, opset and what is supported.</exception>
    public static LayerProgram Lower(Graph graph, bool fp16) => Lower(graph, new LoweringOptions { Fp16 = fp16 });

    /// <summary>Lowers <paramref name="graph"/> with per-node precision and, for calibration, observed node outputs.</summary>
    /// <exception cref="TrtNativeException">Unsupported naming the node, op, opset and what is supported; InvalidArgument
    /// for a node to keep in fp32 that the graph does not have.</exception>
    public static LayerProgram Lower(Graph graph, LoweringOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var missing = options.KeepFp32.Keys.Where(k => graph.Nodes.All(n => n.Name != k)).ToList();
        if (missing.Count > 0)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"nodes to keep in fp32 are not in the graph: {string.Join(", ", missing)}");
        var g = graph.Clone();
        var known = ShapeInference.Run(g);
        var l = new GpuLowering(g, known, options);
        l.Run();
        FuseResidualIntoGemm.Run(l._p);
        FuseGeluIntoGemm.Run(l._p);
        FuseLayerNormIntoGemm.Run(l._p);
        FuseSliceIntoAttention.Run(l._p);
        MergeCopies.Run(l._p);
        FuseScaleIntoPointwiseConv.Run(l._p);
        return l._p;
    }

    private void Run()
    {
        foreach (var i in _g.Inputs)
        {
            if (!i.Type.IsFloating())
                throw new TrtNativeException(ErrorCode.Unsupported, $"graph input '{i.Name}' is {i.Type.OnnxName()}; the GPU engine takes float inputs only");
            var shape = i.Shape ?? throw new TrtNativeException(ErrorCode.Unsupported, $"graph input '{i.Name}' has no shape");
            int id = NewTensor(i.Name, NativeDType.Float32, shape, TensorRole.Input);
            _p.Inputs.Add(new ProgramBinding(i.Name, id, shape));
            // Converted to the reduced type by the first layer that reads it in that type (AddLayer).
            _vals[i.Name] = new Val(id, shape, Identity(shape.Length));
        }

        foreach (var node in _g.Nodes)
        {
            _node = node;
            if (node.Outputs.All(o => o.Length == 0 || _known.ContainsKey(o))) continue; // computed at build time
            try
            {
                LowerNode(node);
            }
            catch (TrtNativeException) { throw; }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException or IndexOutOfRangeException or KeyNotFoundException)
            {
                throw Unsupported($"cannot be lowered for the GPU: {e.Message}");
            }
        }

        if (_options.Reduced)
            foreach (var n in _g.Nodes.Where(n => _options.KeepFp32.ContainsKey(n.Name)))
                _p.KeptFp32.Add(new Runtime.PrecisionChoice(n.Name, n.QualifiedOp, _options.KeepFp32[n.Name]));

        foreach (var o in _g.Outputs)
        {
            _node = null!;
            var type = _g.Values.TryGetValue(o.Name, out var info) ? info.Type : o.Type;
            if (!type.IsFloating())
                throw new TrtNativeException(ErrorCode.Unsupported, $"graph output '{o.Name}' is {type.OnnxName()}; the GPU engine produces float outputs only");
            var v = Value(o.Name);
            v = Ensure(v, Identity(v.Logical.Length));
            int id = NewTensor(o.Name, NativeDType.Float32, v.Logical, TensorRole.Output);
            AddCopyLayer("output:" + o.Name, v, Identity(v.Logical.Length), id);
            _p.Outputs.Add(new ProgramBinding(o.Name, id, v.Logical));
        }
        if (_options.Observe) ObserveNodeOutputs();
    }

    /// <summary>
    /// Makes every run-time node output an extra fp32 engine output named after the value (graph outputs already are),
    /// so a calibration run can compare the values of an fp16 and an fp32 program node by node.
    /// </summary>
    private void ObserveNodeOutputs()
    {
        _node = null!;
        var taken = _p.Outputs.Select(o => o.Name).Concat(_p.Inputs.Select(i => i.Name)).ToHashSet();
        foreach (var n in _g.Nodes)
            foreach (var name in n.Outputs)
            {
                if (name.Length == 0 || _known.ContainsKey(name) || !_vals.TryGetValue(name, out var v) || !taken.Add(name)) continue;
                if (!_p.Tensors[v.Tensor].DType.IsFloat()) continue;
                v = Ensure(v, Identity(v.Logical.Length));
                int id = NewTensor(name, NativeDType.Float32, v.Logical, TensorRole.Output);
                AddCopyLayer("observe:" + name, v, Identity(v.Logical.Length), id);
                _p.Outputs.Add(new ProgramBinding(name, id, v.Logical));
            }
    }

    // ---------------------------------------------------------------- nodes

    private void LowerNode(Node n)
    {
        string op = n.Domain is "" or "ai.onnx" ? n.OpType : n.Domain == Node.TrtNativeDomain ? "trtnative." + n.OpType : n.QualifiedOp;
        if (!s_lowerByOp.TryGetValue(op, out var lower))
            throw Unsupported($"op {n.QualifiedOp} is not supported by the GPU engine (it is only supported when its result can be computed at build time). GPU ops: {string.Join(", ", SupportedOps)}");
        lower(this, n);
    }

    private void LowerConv(Node n)
    {
        var xs = LogicalShape(n.Inputs[0]);
        if (xs.Length != 4) throw Unsupported($"only 2-D convolutions are supported on the GPU (input {xs.Format()})");
        var x = Ensure(Value(n.Inputs[0]), Nhwc);
        var w = Const(n.Inputs[1], "weights");
        if (w.Rank != 4) throw Unsupported($"weights must be 4-D, got {w.Shape.Format()}");
        long K = w.Shape[0], Cg = w.Shape[1], R = w.Shape[2], S = w.Shape[3];
        var pads = WindowPads(n, xs, [R, S]);
        if (pads[0] != pads[2] || pads[1] != pads[3])
        {
            // cuDNN pads symmetrically: pad the extra rows/columns explicitly (zeros), then convolve with the smaller pads.
            // CNTK exports (SAME_UPPER-style [3,3,2,2] for a 7x7 stride-2 stem) need this.
            long ph = Math.Min(pads[0], pads[2]), pw = Math.Min(pads[1], pads[3]);
            x = PadSpatialNhwc(n, x, [pads[0] - ph, pads[1] - pw], [pads[2] - ph, pads[3] - pw]);
            pads = [ph, pw, ph, pw];
        }
        var strides = n.GetInts("strides") ?? [1, 1];
        var dil = n.GetInts("dilations") ?? [1, 1];
        int wid = Weight(n.Name + ".W", Permute(w.Floats!, w.Shape, Nhwc), Shapes.Of(K, R, S, Cg), Act);
        int bid = -1, rid = -1;
        if (n.HasInput(2)) bid = Weight(n.Name + ".B", Const(n.Inputs[2], "bias").Floats!, Shapes.Of(K), NativeDType.Float32);
        if (n.Domain == Node.TrtNativeDomain && n.HasInput(3)) rid = Ensure(Value(n.Inputs[3]), Nhwc).Tensor;
        var act = n.Domain == Node.TrtNativeDomain ? NativeAct(Activation.FromNode(n)) : default;
        var prm = new ConvParams
        {
            PadH = (int)pads[0], PadW = (int)pads[1], StrideH = (int)strides[0], StrideW = (int)strides[1],
            DilationH = (int)dil[0], DilationW = (int)dil[1], Groups = (int)n.GetInt("group", 1),
            HasBias = bid >= 0 ? 1 : 0, HasResidual = rid >= 0 ? 1 : 0, Act = act, Tactic = -1,
        };
        var outLogical = LogicalShape(n.Outputs[0]);
        int y = NewTensor(n.Outputs[0], Act, Apply(outLogical, Nhwc), TensorRole.Activation);
        AddLayer(LayerKind.Conv, prm, [x.Tensor, wid, bid, rid], [y]);
        _vals[n.Outputs[0]] = new Val(y, outLogical, Nhwc);
    }

    private void LowerPool(Node n, bool global)
    {
        var xs = LogicalShape(n.Inputs[0]);
        if (xs.Length != 4) throw Unsupported($"only 2-D pooling is supported on the GPU (input {xs.Format()})");
        if (n.Outputs.Count > 1 && n.Outputs[1].Length > 0) throw Unsupported("MaxPool's Indices output is not supported");
        var x = Ensure(Value(n.Inputs[0]), Nhwc);
        bool max = n.OpType is "MaxPool" or "GlobalMaxPool";
        PoolParams prm;
        if (global)
        {
            if (!xs[2].IsKnown || !xs[3].IsKnown) throw Unsupported($"global pooling needs known spatial dims, got {xs.Format()}");
            prm = new PoolParams { Mode = max ? 0 : 1, KernelH = (int)xs[2].Value, KernelW = (int)xs[3].Value, StrideH = 1, StrideW = 1, DilationH = 1, DilationW = 1 };
        }
        else
        {
            var k = n.GetInts("kernel_shape") ?? throw Unsupported("kernel_shape is required");
            if (k.Length != 2) throw Unsupported($"kernel_shape {Shapes.Format(k)} is not 2-D");
            var strides = n.GetInts("strides") ?? [1, 1];
            var dil = n.GetInts("dilations") ?? [1, 1];
            var pads = WindowPads(n, xs, k);
            prm = new PoolParams
            {
                Mode = max ? 0 : 1, KernelH = (int)k[0], KernelW = (int)k[1], StrideH = (int)strides[0], StrideW = (int)strides[1],
                PadTop = (int)pads[0], PadLeft = (int)pads[1], PadBottom = (int)pads[2], PadRight = (int)pads[3],
                DilationH = (int)dil[0], DilationW = (int)dil[1], CountIncludePad = (int)n.GetInt("count_include_pad", 0),
            };
        }
        var outLogical = LogicalShape(n.Outputs[0]);
        int y = NewTensor(n.Outputs[0], Act, Apply(outLogical, Nhwc), TensorRole.Activation);
        AddLayer(LayerKind.Pool, prm, [x.Tensor], [y]);
        _vals[n.Outputs[0]] = new Val(y, outLogical, Nhwc);
    }

    private void LowerGemm(Node n)
    {
        bool transA = n.GetInt("transA", 0) != 0, transB = n.GetInt("transB", 0) != 0;
        float alpha = n.GetFloat("alpha", 1f), beta = n.GetFloat("beta", 1f);
        var a = Ensure(Value(n.Inputs[0]), [0, 1]);
        int b = MatrixOperand(n.Inputs[1], n.Name + ".B");
        var outLogical = LogicalShape(n.Outputs[0]);
        var act = n.Domain == Node.TrtNativeDomain ? NativeAct(Activation.FromNode(n)) : default;
        long N = outLogical[1].IsKnown ? outLogical[1].Value : throw Unsupported("the output's column count must be known");
        int bias = -1;
        Val? addLater = null;
        float[]? addConst = null;
        Dim[]? addConstShape = null;
        if (n.HasInput(2) && beta != 0)
        {
            if (_known.TryGetValue(n.Inputs[2], out var c) && c.Floats is not null)
            {
                var cs = c.Shape;
                bool vector = cs.Length == 0 || cs.Take(cs.Length - 1).All(d => d == 1);
                if (vector && (cs.Length == 0 || cs[^1] == N || cs[^1] == 1))
                {
                    var bv = new float[N];
                    for (int i = 0; i < N; i++) bv[i] = beta * c.Floats[cs.Length == 0 || cs[^1] == 1 ? 0 : i];
                    bias = Weight(n.Name + ".C", bv, Shapes.Of(N), Act);
                }
                else
                {
                    addConst = c.Floats.Select(v => v * beta).ToArray();
                    addConstShape = cs.Select(Dim.Of).ToArray();
                }
            }
            else
            {
                if (beta != 1f) throw Unsupported("a run-time C input with beta != 1 is not supported");
                addLater = Value(n.Inputs[2]);
            }
        }
        bool separateAdd = addLater is not null || addConst is not null;
        var prm = new GemmParams { TransA = transA ? 1 : 0, TransB = transB ? 1 : 0, Alpha = alpha, HasBias = bias >= 0 ? 1 : 0, Act = separateAdd ? default : act, Tactic = -1 };
        int y = NewTensor(separateAdd ? n.Outputs[0] + ".gemm" : n.Outputs[0], Act, outLogical, TensorRole.Activation);
        AddLayer(LayerKind.Gemm, prm, [a.Tensor, b, bias], [y]);
        var result = new Val(y, outLogical, [0, 1]);
        if (separateAdd)
        {
            int other = addLater is not null ? Ensure(addLater, Identity(addLater.Logical.Length)).Tensor
                : Weight(n.Name + ".C", addConst!, addConstShape!, Act);
            int z = NewTensor(n.Outputs[0], Act, outLogical, TensorRole.Activation);
            AddLayer(LayerKind.Binary, new BinaryParams { Op = (int)BinaryOp.Add, Act = act }, [y, other], [z]);
            result = new Val(z, outLogical, [0, 1]);
        }
        _vals[n.Outputs[0]] = result;
    }

    private void LowerMatMul(Node n)
    {
        var aShape = LogicalShape(n.Inputs[0]);
        var bShape = LogicalShape(n.Inputs[1]);
        if (aShape.Length < 2 || bShape.Length < 2) throw Unsupported($"MatMul with a 1-D operand is not supported on the GPU ({aShape.Format()} x {bShape.Format()})");
        var av = Value(n.Inputs[0]);
        // With a shared 2-D weight every row of A is multiplied independently, so any memory order that keeps the
        // last axis last works as it is (a seq-first view of batch-first memory, as attention exports make): the
        // product is taken over the rows in memory order and the output keeps A's order. Saves two copies per use.
        bool rowwise = bShape.Length == 2 && _known.ContainsKey(n.Inputs[1]) && av.Perm[^1] == aShape.Length - 1;
        var a = rowwise ? av : Ensure(av, Identity(aShape.Length));
        // A constant 2-D weight [K, N] is stored transposed, [N, K] with TransB: each output column's weights are then
        // one contiguous row, the layout our tensor-core GEMM kernel reads (a Linear layer's own), so autotuning can
        // time it beside cuBLASLt's algorithms (which take either layout).
        bool transB = bShape.Length == 2 && _known.TryGetValue(n.Inputs[1], out var constB) && constB.Floats is not null;
        int b = transB ? TransposedWeight(n.Inputs[1], n.Name + ".B") : MatrixOperand(n.Inputs[1], n.Name + ".B");
        int bias = -1;
        if (n.Domain == Node.TrtNativeDomain && n.HasInput(2))
        {
            var bt = Const(n.Inputs[2], "bias");
            bias = Weight(n.Name + ".bias", bt.Floats!, Shapes.Of(bt.Length), Act);
        }
        var act = n.Domain == Node.TrtNativeDomain ? NativeAct(Activation.FromNode(n)) : default;
        var outLogical = LogicalShape(n.Outputs[0]);
        var perm = rowwise ? a.Perm : Identity(outLogical.Length);
        var prm = new GemmParams { TransB = transB ? 1 : 0, Alpha = 1f, HasBias = bias >= 0 ? 1 : 0, Act = act, Tactic = -1 };
        int y = NewTensor(n.Outputs[0], Act, Apply(outLogical, perm), TensorRole.Activation);
        AddLayer(LayerKind.Gemm, prm, [a.Tensor, b, bias], [y]);
        _vals[n.Outputs[0]] = new Val(y, outLogical, perm);
    }

    /// <summary>
    /// One attention layer reading Q, K and V in whatever memory order they have: the node's permutations (over
    /// logical dims) are composed with each value's memory order, so no copy is made. The output is written in its
    /// logical order, which the Reshape that merges the heads back wants.
    /// </summary>
    private unsafe void LowerAttention(Node n)
    {
        int r = LogicalShape(n.Outputs[0]).Length;
        if (r is not (3 or 4)) throw Unsupported($"rank {r} is not supported (3 or 4)");
        var prm = new AttentionParams { Scale = n.GetFloat("scale", float.NaN), Tactic = -1 };
        if (float.IsNaN(prm.Scale)) throw Unsupported("attribute 'scale' is missing");
        for (int k = 0; k < 3; k++) prm.FixedAxis[k] = -1;  // whole tensors; FuseSliceIntoAttention may make them slices
        var ids = new int[3];
        var permOut = new int*[] { prm.QPerm, prm.KPerm, prm.VPerm, prm.OPerm };
        for (int k = 0; k < 3; k++)
        {
            var v = Value(n.Inputs[k]);
            if (v.Logical.Length != r) throw Unsupported($"input {k} has rank {v.Logical.Length}, the output {r}");
            var perm = AttentionOps.Perm(n, AttentionOps.PermAttributes[k], r, Unsupported);
            // View axis i is logical dim perm[i], which lives at memory position IndexOf(v.Perm, perm[i]).
            for (int i = 0; i < 4; i++) permOut[k][i] = i < r ? Array.IndexOf(v.Perm, perm[i]) : -1;
            ids[k] = v.Tensor;
        }
        var oPerm = AttentionOps.Perm(n, "o_perm", r, Unsupported);
        for (int i = 0; i < 4; i++) permOut[3][i] = i < r ? oPerm[i] : -1;
        var outLogical = LogicalShape(n.Outputs[0]);
        int y = NewTensor(n.Outputs[0], Act, outLogical, TensorRole.Activation);
        AddLayer(LayerKind.Attention, prm, ids, [y]);
        _vals[n.Outputs[0]] = new Val(y, outLogical, Identity(r));
    }

    /// <summary>A matrix operand in logical order: a weight when constant, else the activation made contiguous.</summary>
    private int MatrixOperand(string name, string weightName)
    {
        if (_known.TryGetValue(name, out var t) && t.Floats is not null)
            return Weight(weightName, t.Floats, t.Shape.Select(Dim.Of).ToArray(), Act);
        var v = Value(name);
        return Ensure(v, Identity(v.Logical.Length)).Tensor;
    }

    // A constant 2-D matrix [K, N] as the weight [N, K].
    private int TransposedWeight(string name, string weightName)
    {
        var t = _known[name];
        long rows = t.Shape[0], cols = t.Shape[1];
        return Weight(weightName, Permute(t.Floats!, [rows, cols], [1, 0]), Shapes.Of(cols, rows), Act);
    }

    private void LowerBinary(Node n, BinaryOp op, NativeActivation act = default)
    {
        if (n.Inputs.Count != 2) throw Unsupported($"{n.OpType} with {n.Inputs.Count} inputs is not supported (2 only)");
        var outLogical = LogicalShape(n.Outputs[0]);
        int r = outLogical.Length;
        var dynamic = n.Inputs.Where(i => !_known.ContainsKey(i)).Select(Value).ToList();
        int[] perm = Identity(r);
        var full = dynamic.FirstOrDefault(v => v.Logical.Length == r);
        if (full is not null && dynamic.All(v => v.Logical.Length == r)) perm = full.Perm;
        var ids = new int[2];
        for (int k = 0; k < 2; k++)
        {
            string name = n.Inputs[k];
            if (_known.TryGetValue(name, out var c))
            {
                var data = c.ToFloats();
                var shape = Enumerable.Repeat(1L, r - c.Rank).Concat(c.Shape).ToArray();
                ids[k] = Weight($"{n.Name}.in{k}", Permute(data, shape, perm), Apply(shape.Select(Dim.Of).ToArray(), perm), Act);
            }
            else
            {
                var v = Value(name);
                ids[k] = v.Logical.Length == r ? Ensure(v, perm).Tensor : Ensure(v, Identity(v.Logical.Length)).Tensor;
            }
        }
        int y = NewTensor(n.Outputs[0], Act, Apply(outLogical, perm), TensorRole.Activation);
        AddLayer(LayerKind.Binary, new BinaryParams { Op = (int)op, Act = act }, ids, [y]);
        _vals[n.Outputs[0]] = new Val(y, outLogical, perm);
    }

    private void LowerUnary(Node n, UnaryOp op, float alpha = 0, float beta = 0)
    {
        var x = Value(n.Inputs[0]);
        int y = NewTensor(n.Outputs[0], Act, Apply(x.Logical, x.Perm), TensorRole.Activation);
        AddLayer(LayerKind.Unary, new UnaryParams { Op = (int)op, Alpha = alpha, Beta = beta }, [x.Tensor], [y]);
        _vals[n.Outputs[0]] = new Val(y, x.Logical, x.Perm);
    }

    /// <summary>ONNX Gelu (opset 20, approximate 'none' or 'tanh'), or the exact trtnative.Gelu that FuseGelu makes of the exporters' Erf chain.</summary>
    private void LowerGelu(Node n)
    {
        var op = n.GetString("approximate", "none") switch
        {
            "none" => UnaryOp.Gelu,
            "tanh" => UnaryOp.GeluTanh,
            var other => throw Unsupported($"approximate='{other}' is not a GELU form ('none' or 'tanh')"),
        };
        LowerUnary(n, op);
    }

    private void LowerClip(Node n)
    {
        float lo = float.MinValue, hi = float.MaxValue;
        if (_g.Opset < 11) { lo = n.GetFloat("min", lo); hi = n.GetFloat("max", hi); }
        else
        {
            if (n.HasInput(1)) lo = Const(n.Inputs[1], "min").ToFloats()[0];
            if (n.HasInput(2)) hi = Const(n.Inputs[2], "max").ToFloats()[0];
        }
        LowerUnary(n, UnaryOp.Clip, lo, hi);
    }

    private void LowerSoftmax(Node n, bool log)
    {
        var x = Value(n.Inputs[0]);
        int r = x.Logical.Length;
        int axis = (int)n.GetInt("axis", _g.Opset >= 13 ? -1 : 1);
        if (axis < 0) axis += r;
        if (_g.Opset >= 13 || axis == r - 1)
        {
            int y = NewTensor(n.Outputs[0], Act, Apply(x.Logical, x.Perm), TensorRole.Activation);
            AddLayer(LayerKind.Softmax, new SoftmaxParams { Axis = Array.IndexOf(x.Perm, axis), Log = log ? 1 : 0 }, [x.Tensor], [y]);
            _vals[n.Outputs[0]] = new Val(y, x.Logical, x.Perm);
            return;
        }
        // opset < 13: softmax over the flattened trailing dims [axis, r).
        x = Ensure(x, Identity(r));
        var rows = x.Logical.Take(axis).Product() ?? throw Unsupported("cannot flatten the leading dims");
        var cols = x.Logical.Skip(axis).Product() ?? throw Unsupported("cannot flatten the trailing dims");
        int flat = Alias(x.Tensor, [rows, cols], n.Name + ".2d");
        int y2 = NewTensor(n.Outputs[0] + ".2d", Act, [rows, cols], TensorRole.Activation);
        AddLayer(LayerKind.Softmax, new SoftmaxParams { Axis = 1, Log = log ? 1 : 0 }, [flat], [y2]);
        int y3 = Alias(y2, x.Logical, n.Outputs[0]);
        _vals[n.Outputs[0]] = new Val(y3, x.Logical, Identity(r));
    }

    private void LowerLayerNorm(Node n)
    {
        if (n.Outputs.Skip(1).Any(o => o.Length > 0)) throw Unsupported("the Mean and InvStdDev outputs are not supported");
        var x = Value(n.Inputs[0]);
        int r = x.Logical.Length;
        int axis = (int)n.GetInt("axis", -1);
        if (axis < 0) axis += r;
        // Rows are normalized independently: any memory order whose trailing positions hold axes axis..r-1 in order works.
        bool trailing = Enumerable.Range(axis, r - axis).Select(a => x.Perm[a]).SequenceEqual(Enumerable.Range(axis, r - axis));
        if (!trailing) x = Ensure(x, Identity(r));
        var normalized = x.Logical.Skip(axis).ToArray();
        if (!normalized.IsKnown()) throw Unsupported($"the normalized dims {normalized.Format()} must be known");
        long cols = normalized.Values().ElementCount();
        var scale = Const(n.Inputs[1], "scale");
        if (scale.Length != cols) throw Unsupported($"scale of shape {scale.Shape.Format()} must have {cols} elements (no broadcasting)");
        int sid = Weight(n.Name + ".scale", scale.ToFloats(), Shapes.Of(cols), NativeDType.Float32);
        int bid = -1;
        if (n.HasInput(2))
        {
            var b = Const(n.Inputs[2], "bias");
            if (b.Length != cols) throw Unsupported($"bias of shape {b.Shape.Format()} must have {cols} elements (no broadcasting)");
            bid = Weight(n.Name + ".bias", b.ToFloats(), Shapes.Of(cols), NativeDType.Float32);
        }
        int y = NewTensor(n.Outputs[0], Act, Apply(x.Logical, x.Perm), TensorRole.Activation);
        AddLayer(LayerKind.LayerNorm, new LayerNormParams { Axis = axis, Epsilon = n.GetFloat("epsilon", 1e-5f), HasBias = bid >= 0 ? 1 : 0 }, [x.Tensor, sid, bid], [y]);
        _vals[n.Outputs[0]] = new Val(y, x.Logical, x.Perm);
    }

    private void LowerBatchNorm(Node n)
    {
        if (n.Outputs.Skip(1).Any(o => o.Length > 0)) throw Unsupported("training-mode outputs are not supported");
        // Training mode normalizes with the batch's statistics; the per-channel scale and shift below would use input_mean/var.
        if (n.GetInt("training_mode", 0) != 0) throw Unsupported("training_mode=1 (batch statistics) is not supported on the GPU; inference form only");
        var x = Value(n.Inputs[0]);
        float eps = n.GetFloat("epsilon", 1e-5f);
        var gamma = Const(n.Inputs[1], "scale").ToFloats();
        var beta = Const(n.Inputs[2], "B").ToFloats();
        var mean = Const(n.Inputs[3], "mean").ToFloats();
        var var_ = Const(n.Inputs[4], "var").ToFloats();
        int c = gamma.Length, r = x.Logical.Length;
        var scale = new float[c];
        var shift = new float[c];
        for (int i = 0; i < c; i++) { scale[i] = gamma[i] / MathF.Sqrt(var_[i] + eps); shift[i] = beta[i] - mean[i] * scale[i]; }
        var cshape = Enumerable.Range(0, r).Select(d => d == 1 ? (long)c : 1L).ToArray();
        int sid = Weight(n.Name + ".scale", Permute(scale, cshape, x.Perm), Apply(cshape.Select(Dim.Of).ToArray(), x.Perm), Act);
        int hid = Weight(n.Name + ".shift", Permute(shift, cshape, x.Perm), Apply(cshape.Select(Dim.Of).ToArray(), x.Perm), Act);
        var phys = Apply(x.Logical, x.Perm);
        int mid = NewTensor(n.Outputs[0] + ".scaled", Act, phys, TensorRole.Activation);
        AddLayer(LayerKind.Binary, new BinaryParams { Op = (int)BinaryOp.Mul }, [x.Tensor, sid], [mid]);
        int y = NewTensor(n.Outputs[0], Act, phys, TensorRole.Activation);
        AddLayer(LayerKind.Binary, new BinaryParams { Op = (int)BinaryOp.Add }, [mid, hid], [y]);
        _vals[n.Outputs[0]] = new Val(y, x.Logical, x.Perm);
    }

    private void LowerReduce(Node n, int op)
    {
        var x = Value(n.Inputs[0]);
        int r = x.Logical.Length;
        long[]? axes = n.GetInts("axes");
        if (axes is null && n.HasInput(1)) axes = Const(n.Inputs[1], "axes").ResolveInts();
        bool keep = n.GetInt("keepdims", 1) != 0;
        if (axes is null || axes.Length == 0)
        {
            if (n.GetInt("noop_with_empty_axes", 0) != 0) { _vals[n.Outputs[0]] = x; return; }
            axes = Enumerable.Range(0, r).Select(i => (long)i).ToArray();
        }
        var ax = axes.Select(a => (int)(a < 0 ? a + r : a)).Distinct().ToArray();
        int mask = 0;
        foreach (var a in ax) mask |= 1 << Array.IndexOf(x.Perm, a);
        var keptLogical = x.Logical.Select((d, i) => ax.Contains(i) ? Dim.Of(1) : d).ToArray();
        int y = NewTensor(keep ? n.Outputs[0] : n.Outputs[0] + ".keepdims", Act, Apply(keptLogical, x.Perm), TensorRole.Activation);
        AddLayer(LayerKind.Reduce, new ReduceParams { Op = op, AxesMask = mask }, [x.Tensor], [y]);
        if (keep) { _vals[n.Outputs[0]] = new Val(y, keptLogical, x.Perm); return; }
        var outLogical = LogicalShape(n.Outputs[0]);
        var perm = x.Perm.Where(a => !ax.Contains(a)).Select(a => a - ax.Count(b => b < a)).ToArray();
        int z = Alias(y, Apply(outLogical, perm), n.Outputs[0]);
        _vals[n.Outputs[0]] = new Val(z, outLogical, perm);
    }

    private void LowerReshape(Node n)
    {
        var x = Value(n.Inputs[0]);
        var outLogical = LogicalShape(n.Outputs[0]);
        // A view of x's memory where the reshape only regroups axes lying together in memory (the heads split of
        // attention over a sequence-first view of batch-first memory, squeezes and unsqueezes in any order); else x
        // is made contiguous in logical order first.
        var perm = ReshapeView.Of(x.Logical, x.Perm, outLogical);
        if (perm is null)
        {
            x = Ensure(x, Identity(x.Logical.Length));
            perm = Identity(outLogical.Length);
        }
        _vals[n.Outputs[0]] = new Val(Alias(x.Tensor, Apply(outLogical, perm), n.Outputs[0]), outLogical, perm);
    }

    private void LowerIdentity(Node n)
    {
        _vals[n.Outputs[0]] = Value(n.Inputs[0]);
        if (n.OpType == "Dropout" && n.Outputs.Count > 1 && n.Outputs[1].Length > 0) throw Unsupported("Dropout's mask output is not supported");
    }

    private void LowerCast(Node n)
    {
        var to = (DataType)n.GetInt("to", 0);
        var from = _g.Values.TryGetValue(n.Inputs[0], out var vi) ? vi.Type : DataType.Undefined;
        if (!to.IsFloating() || !from.IsFloating())
            throw Unsupported($"Cast from {from.OnnxName()} to {to.OnnxName()} at run time is not supported (the engine computes in {_p.ActivationType.ShortName()})");
        _vals[n.Outputs[0]] = Value(n.Inputs[0]);
    }

    private void LowerTranspose(Node n)
    {
        var x = Value(n.Inputs[0]);
        int r = x.Logical.Length;
        var t = (n.GetInts("perm") ?? Enumerable.Range(0, r).Reverse().Select(i => (long)i).ToArray()).Select(v => (int)v).ToArray();
        var inv = new int[r];
        for (int j = 0; j < r; j++) inv[t[j]] = j;
        var outLogical = LogicalShape(n.Outputs[0]);
        // Same memory, new view: physical axis i holds logical axis x.Perm[i] of the input = axis inv[x.Perm[i]] of the output.
        var perm = x.Perm.Select(a => inv[a]).ToArray();
        _vals[n.Outputs[0]] = new Val(x.Tensor, outLogical, perm);
    }

    private void LowerConcat(Node n)
    {
        var outLogical = LogicalShape(n.Outputs[0]);
        int r = outLogical.Length;
        int axis = (int)n.GetInt("axis", 0);
        if (axis < 0) axis += r;
        var first = n.Inputs.Where(i => !_known.ContainsKey(i)).Select(Value).First();
        var perm = first.Perm;
        var ids = new List<int>();
        foreach (var name in n.Inputs)
        {
            if (_known.TryGetValue(name, out var c))
            {
                if (c.Length == 0) continue;
                ids.Add(Weight(n.Name + ".const" + ids.Count, Permute(c.ToFloats(), c.Shape, perm), Apply(c.Shape.Select(Dim.Of).ToArray(), perm), Act));
            }
            else ids.Add(Ensure(Value(name), perm).Tensor);
        }
        int y = NewTensor(n.Outputs[0], Act, Apply(outLogical, perm), TensorRole.Activation);
        AddLayer(LayerKind.Concat, new ConcatParams { Axis = Array.IndexOf(perm, axis) }, ids.ToArray(), [y]);
        _vals[n.Outputs[0]] = new Val(y, outLogical, perm);
    }

    private void LowerGather(Node n)
    {
        var x = Value(n.Inputs[0]);
        int r = x.Logical.Length;
        int axis = (int)n.GetInt("axis", 0);
        if (axis < 0) axis += r;
        var idx = Const(n.Inputs[1], "indices");
        var outLogical = LogicalShape(n.Outputs[0]);
        if (idx.Rank == 0)
        {
            long i = idx.ResolveInts()[0];
            if (i < 0)
            {
                if (!x.Logical[axis].IsKnown) throw Unsupported("a negative index on a run-time sized axis is not supported");
                i += x.Logical[axis].Value;
            }
            var starts = new long[r];
            starts[axis] = i;
            var sliced = x.Logical.Select((d, k) => k == axis ? Dim.Of(1) : d).ToArray();
            int y = EmitSlice(x, starts, Enumerable.Repeat(1L, r).ToArray(), sliced, n.Outputs[0] + ".slice");
            var perm = x.Perm.Where(a => a != axis).Select(a => a > axis ? a - 1 : a).ToArray();
            int z = Alias(y, Apply(outLogical, perm), n.Outputs[0]);
            _vals[n.Outputs[0]] = new Val(z, outLogical, perm);
            return;
        }
        x = Ensure(x, Identity(r));
        var ints = idx.ResolveInts().Select(v => (int)v).ToArray();
        int iid = NewTensor(n.Name + ".indices", NativeDType.Int32, idx.Shape.Select(Dim.Of).ToArray(), TensorRole.Weight,
            MemoryMarshal.AsBytes(ints.AsSpan()).ToArray());
        int g = NewTensor(n.Outputs[0], Act, outLogical, TensorRole.Activation);
        AddLayer(LayerKind.Gather, new GatherParams { Axis = axis }, [x.Tensor, iid], [g]);
        _vals[n.Outputs[0]] = new Val(g, outLogical, Identity(outLogical.Length));
    }

    private void LowerSlice(Node n)
    {
        var x = Value(n.Inputs[0]);
        int r = x.Logical.Length;
        long[] starts, ends;
        long[]? axes, steps = null;
        if (_g.Opset < 10)
        {
            starts = n.GetInts("starts")!;
            ends = n.GetInts("ends")!;
            axes = n.GetInts("axes");
        }
        else
        {
            starts = Const(n.Inputs[1], "starts").ResolveInts();
            ends = Const(n.Inputs[2], "ends").ResolveInts();
            axes = n.HasInput(3) ? Const(n.Inputs[3], "axes").ResolveInts() : null;
            steps = n.HasInput(4) ? Const(n.Inputs[4], "steps").ResolveInts() : null;
        }
        axes ??= Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        var st = new long[r];
        var sp = Enumerable.Repeat(1L, r).ToArray();
        for (int k = 0; k < axes.Length; k++)
        {
            int a = (int)(axes[k] < 0 ? axes[k] + r : axes[k]);
            long step = steps?[k] ?? 1;
            long s = starts[k];
            var dim = x.Logical[a];
            if (dim.IsKnown)
            {
                long len = dim.Value;
                if (s < 0) s += len;
                s = step > 0 ? Math.Clamp(s, 0, len) : Math.Clamp(s, 0, len - 1);
            }
            else if (s < 0 || step < 0) throw Unsupported($"slicing the run-time sized axis {a} from the end is not supported");
            st[a] = s;
            sp[a] = step;
        }
        int y = EmitSlice(x, st, sp, LogicalShape(n.Outputs[0]), n.Outputs[0]);
        _vals[n.Outputs[0]] = new Val(y, LogicalShape(n.Outputs[0]), x.Perm);
    }

    private void LowerSplit(Node n)
    {
        var x = Value(n.Inputs[0]);
        int r = x.Logical.Length;
        int axis = (int)n.GetInt("axis", 0);
        if (axis < 0) axis += r;
        long offset = 0;
        for (int k = 0; k < n.Outputs.Count; k++)
        {
            var outLogical = LogicalShape(n.Outputs[k]);
            var st = new long[r];
            st[axis] = offset;
            if (n.Outputs[k].Length > 0)
            {
                int y = EmitSlice(x, st, Enumerable.Repeat(1L, r).ToArray(), outLogical, n.Outputs[k]);
                _vals[n.Outputs[k]] = new Val(y, outLogical, x.Perm);
            }
            offset += outLogical[axis].IsKnown ? outLogical[axis].Value : throw Unsupported("splitting a run-time sized axis is not supported");
        }
    }

    private void LowerExpand(Node n)
    {
        var x = Value(n.Inputs[0]);
        x = Ensure(x, Identity(x.Logical.Length));
        var outLogical = LogicalShape(n.Outputs[0]);
        int r = outLogical.Length;
        var inPadded = Enumerable.Repeat(Dim.Of(1), r - x.Logical.Length).Concat(x.Logical).ToArray();
        var prm = new CopyParams();
        unsafe
        {
            for (int k = 0; k < r; k++)
            {
                prm.Perm[k] = k;
                prm.Start[k] = 0;
                prm.Step[k] = inPadded[k].IsKnown && inPadded[k].Value == 1 ? 0 : 1;
            }
        }
        int y = NewTensor(n.Outputs[0], Act, outLogical, TensorRole.Activation);
        AddLayer(LayerKind.Copy, prm, [x.Tensor], [y]);
        _vals[n.Outputs[0]] = new Val(y, outLogical, Identity(r));
    }

    /// <summary>Zero-pads the H and W dims of an NHWC value by (top, left) before and (bottom, right) after.</summary>
    private Val PadSpatialNhwc(Node n, Val x, long[] begin, long[] end)
    {
        var logical = x.Logical.ToArray();
        logical[2] = Dim.Add(logical[2], Dim.Of(begin[0] + end[0])) ?? throw Unsupported("padding a symbolic height is not supported");
        logical[3] = Dim.Add(logical[3], Dim.Of(begin[1] + end[1])) ?? throw Unsupported("padding a symbolic width is not supported");
        var prm = new PadParams { Mode = 0, Value = 0f };
        unsafe { prm.Begin[1] = begin[0]; prm.Begin[2] = begin[1]; } // physical NHWC: dims 1 and 2 are H and W
        int y = NewTensor(n.Name + ".pad", Act, Apply(logical, Nhwc), TensorRole.Activation);
        AddLayer(LayerKind.Pad, prm, [x.Tensor], [y]);
        return new Val(y, logical, Nhwc);
    }

    private void LowerPad(Node n)
    {
        var x = Value(n.Inputs[0]);
        int r = x.Logical.Length;
        x = Ensure(x, Identity(r));
        long[] pads = _g.Opset < 11 ? n.GetInts("pads")! : Const(n.Inputs[1], "pads").ResolveInts();
        float value = _g.Opset < 11 ? n.GetFloat("value", 0) : n.HasInput(2) ? Const(n.Inputs[2], "constant_value").ToFloats()[0] : 0f;
        if (n.HasInput(3)) throw Unsupported("the axes input of Pad is not supported");
        if (pads.Any(p => p < 0)) throw Unsupported("negative pads are not supported");
        string mode = n.GetString("mode", "constant");
        var prm = new PadParams { Mode = mode switch { "constant" => 0, "edge" => 1, "reflect" => 2, _ => throw Unsupported($"pad mode '{mode}' is not supported") }, Value = value };
        unsafe { for (int k = 0; k < r; k++) prm.Begin[k] = pads[k]; }
        var outLogical = LogicalShape(n.Outputs[0]);
        int y = NewTensor(n.Outputs[0], Act, outLogical, TensorRole.Activation);
        AddLayer(LayerKind.Pad, prm, [x.Tensor], [y]);
        _vals[n.Outputs[0]] = new Val(y, outLogical, Identity(r));
    }

    private void LowerResize(Node n)
    {
        var x = Value(n.Inputs[0]);
        if (x.Logical.Length != 4) throw Unsupported("only 4-D Resize is supported on the GPU");
        string mode = n.GetString("mode", "nearest");
        string coord = n.GetString("coordinate_transformation_mode", _g.Opset >= 11 ? "half_pixel" : "asymmetric");
        string nearest = n.GetString("nearest_mode", "round_prefer_floor");
        var prm = new ResizeParams
        {
            Mode = mode switch { "nearest" => 0, "linear" => 1, _ => throw Unsupported($"mode '{mode}' is not supported (nearest, linear)") },
            CoordMode = coord switch { "half_pixel" => 0, "asymmetric" => 1, "align_corners" => 2, "pytorch_half_pixel" => 3, _ => throw Unsupported($"coordinate_transformation_mode '{coord}' is not supported") },
            NearestMode = nearest switch { "round_prefer_floor" => 0, "round_prefer_ceil" => 1, "floor" => 2, "ceil" => 3, _ => throw Unsupported($"nearest_mode '{nearest}' is not supported") },
        };
        if (n.GetInt("antialias", 0) != 0) throw Unsupported("antialias is not supported");
        int scalesInput = _g.Opset >= 11 ? 2 : 1;
        if (n.HasInput(scalesInput) && !_known.ContainsKey(n.Inputs[scalesInput]))
            throw Unsupported("the scales input must be a constant known at build time");
        if (n.HasInput(scalesInput + 1) && !_known.ContainsKey(n.Inputs[scalesInput + 1]))
            throw Unsupported("the sizes input must be a constant known at build time");
        if (n.HasInput(scalesInput) && _known.TryGetValue(n.Inputs[scalesInput], out var sc) && sc.Length == 4)
        {
            var s = sc.ToFloats();
            if (s[0] != 1 || s[1] != 1) throw Unsupported("only the two spatial dims may be resized");
            prm.ScaleH = s[2];
            prm.ScaleW = s[3];
        }
        int pos = Array.IndexOf(x.Perm, 2);
        if (pos + 1 >= 4 || x.Perm[pos + 1] != 3) { x = Ensure(x, Identity(4)); pos = 2; }
        prm.HAxis = pos;
        var outLogical = LogicalShape(n.Outputs[0]);
        int y = NewTensor(n.Outputs[0], Act, Apply(outLogical, x.Perm), TensorRole.Activation);
        AddLayer(LayerKind.Resize, prm, [x.Tensor], [y]);
        _vals[n.Outputs[0]] = new Val(y, outLogical, x.Perm);
    }

    // ---------------------------------------------------------------- helpers

    private TrtNativeException Unsupported(string message) => _node is null
        ? new TrtNativeException(ErrorCode.Unsupported, message)
        : new TrtNativeException(ErrorCode.Unsupported, $"node '{_node.Name}' ({_node.QualifiedOp}, opset {_g.Opset}): {message}");

    private Dim[] LogicalShape(string name) =>
        _g.Values.TryGetValue(name, out var v) && v.Shape is not null ? v.Shape : throw Unsupported($"the shape of '{name}' is unknown");

    /// <summary>The value as a device tensor; constants become weights in logical order.</summary>
    private Val Value(string name)
    {
        if (_vals.TryGetValue(name, out var v)) return v;
        if (_known.TryGetValue(name, out var c))
        {
            if (c.IsSymbolic || c.Floats is null)
                throw Unsupported($"'{name}' is an integer or shape value; the GPU engine computes only float tensors at run time");
            // One weight per type the constant is read in (a node kept in fp32 reads it in fp32).
            if (_constants.TryGetValue((name, Act), out var made)) return made;
            var shape = c.Shape.Select(Dim.Of).ToArray();
            var val = new Val(Weight(name, c.Floats, shape, Act), shape, Identity(shape.Length));
            _constants[(name, Act)] = val;
            return val;
        }
        throw Unsupported($"input '{name}' is not produced by an earlier node");
    }

    private Tensor Const(string name, string role) =>
        _known.TryGetValue(name, out var t) && !t.IsSymbolic ? t
            : throw Unsupported($"the {role} ('{name}') must be a constant known at build time");

    private static int[] Identity(int r) => Enumerable.Range(0, r).ToArray();

    private static Dim[] Apply(Dim[] logical, int[] perm) => perm.Select(a => logical[a]).ToArray();

    private static NativeActivation NativeAct(Activation a) => new() { Kind = (int)a.Kind, Alpha = a.Alpha, Beta = a.Beta };

    /// <summary>
    /// Pads [top, left, bottom, right] of a 2-D convolution or pool, from the same rule the reference kernels use
    /// (<see cref="Window.Compute"/>: pads, auto_pad SAME_UPPER/SAME_LOWER/VALID), so CPU and GPU cannot disagree.
    /// </summary>
    private long[] WindowPads(Node n, Dim[] xs, long[]? kernel)
    {
        if (!xs[2].IsKnown || !xs[3].IsKnown) throw Unsupported($"convolution and pooling need known spatial dims, got {xs.Format()}");
        var w = Window.Compute(n, [xs[2].Value, xs[3].Value], kernel, ceilMode: false, message => Unsupported(message));
        return [.. w.PadsBegin, .. w.PadsEnd];
    }

    /// <summary>Host-side transpose of a row-major tensor: output axis k is input axis perm[k].</summary>
    internal static float[] Permute(float[] data, long[] shape, int[] perm)
    {
        int r = shape.Length;
        if (perm.Select((p, i) => p == i).All(b => b)) return data;
        var outShape = perm.Select(p => shape[p]).ToArray();
        var inStrides = new long[r];
        long s = 1;
        for (int i = r - 1; i >= 0; i--) { inStrides[i] = s; s *= shape[i]; }
        var result = new float[data.Length];
        var idx = new long[r];
        for (long o = 0; o < data.Length; o++)
        {
            long src = 0;
            for (int k = 0; k < r; k++) src += idx[k] * inStrides[perm[k]];
            result[o] = data[src];
            for (int k = r - 1; k >= 0; k--) { if (++idx[k] < outShape[k]) break; idx[k] = 0; }
        }
        return result;
    }

    private int NewTensor(string name, NativeDType dt, Dim[] shape, TensorRole role, byte[]? data = null, int aliasOf = -1)
    {
        if (shape.Length > 8) throw Unsupported($"'{name}' has rank {shape.Length}; the GPU engine supports up to 8");
        return _p.AddTensor(name, dt, shape, role, data, aliasOf);
    }

    private int Weight(string name, float[] data, Dim[] shape, NativeDType dt)
    {
        byte[] bytes;
        if (dt == NativeDType.Float16)
        {
            var h = new Half[data.Length];
            for (int i = 0; i < h.Length; i++) h[i] = (Half)data[i];
            bytes = MemoryMarshal.AsBytes(h.AsSpan()).ToArray();
        }
        else if (dt == NativeDType.BFloat16)
        {
            var b = new ushort[data.Length];
            for (int i = 0; i < b.Length; i++) b[i] = BFloat16.FromFloat(data[i]);
            bytes = MemoryMarshal.AsBytes(b.AsSpan()).ToArray();
        }
        else bytes = MemoryMarshal.AsBytes(data.AsSpan()).ToArray();
        return NewTensor(name, dt, shape, TensorRole.Weight, bytes);
    }

    private int Alias(int tensor, Dim[] shape, string name)
    {
        if (shape.Length > 8) throw Unsupported($"'{name}' has rank {shape.Length}; the GPU engine supports up to 8");
        return _p.AddAlias(tensor, shape, name);
    }

    private unsafe void AddLayer<T>(LayerKind kind, T prm, int[] inputs, int[] outputs) where T : unmanaged
    {
        var info = LayerKinds.Of(kind);
        if (typeof(T) != info.ParamsType) throw new InvalidOperationException($"a {kind} layer takes {info.ParamsType.Name}, not {typeof(T).Name}");
        if (inputs.Length < info.MinInputs || inputs.Take(info.MinInputs).Any(i => i < 0))
            throw new InvalidOperationException($"a {kind} layer needs its first {info.MinInputs} inputs, got [{string.Join(", ", inputs)}]");
        var bytes = LayerProgram.ParamBytes(prm);
        // Trailing absent optional inputs are dropped; inner ones stay as -1.
        int n = inputs.Length;
        while (n > 0 && inputs[n - 1] < 0) n--;
        inputs = kind == LayerKind.Copy ? inputs : inputs.Select(t => Retyped(t, _p.Tensors[outputs[0]].DType)).ToArray();
        string name = _node?.Name is { Length: > 0 } nn ? nn : (_p.Tensors[outputs[0]].Name);
        if (_p.Layers.Any(l => l.Name == name)) name = $"{name}#{_p.Layers.Count}";
        _p.Layers.Add(new ProgramLayer { Name = name, Kind = kind, Params = bytes, Inputs = inputs[..n], Outputs = outputs });
    }

    /// <summary>
    /// Tensor <paramref name="id"/> as a layer computing in <paramref name="dt"/> reads it: itself, or for an activation
    /// of the other float type (a precision boundary) a converted copy, made once per tensor and type. Weights are
    /// made in the reading node's type already (and conv biases, layer-norm parameters are fp32 by contract).
    /// </summary>
    private int Retyped(int id, NativeDType dt)
    {
        if (id < 0) return id;
        var t = _p.Tensors[id];
        if (t.DType == dt || !t.DType.IsFloat() || !dt.IsFloat() || _p.Tensors[_p.Root(id)].Role == TensorRole.Weight) return id;
        if (_retyped.TryGetValue((id, dt), out int done)) return done;
        var saved = _node;
        int y = NewTensor($"{t.Name}.{dt.ShortName()}", dt, t.Shape, TensorRole.Activation);
        AddCopyLayer(_p.Tensors[y].Name, new Val(id, t.Shape, Identity(t.Shape.Length)), Identity(t.Shape.Length), y);
        _node = saved;
        _retyped[(id, dt)] = y;
        return y;
    }

    /// <summary>The value in memory order <paramref name="perm"/>: itself, an alias (orders equal up to size-1 axes) or a copy.</summary>
    private Val Ensure(Val v, int[] perm)
    {
        if (v.Perm.SequenceEqual(perm)) return v;
        var key = (v.Tensor, string.Join(",", perm) + ":" + string.Join(",", v.Perm));
        if (_converted.TryGetValue(key, out var done)) return done;
        bool IsOne(int axis) => v.Logical[axis].IsKnown && v.Logical[axis].Value == 1;
        Val result;
        if (v.Perm.Where(a => !IsOne(a)).SequenceEqual(perm.Where(a => !IsOne(a))))
            result = new Val(Alias(v.Tensor, Apply(v.Logical, perm), _p.Tensors[v.Tensor].Name + ".view"), v.Logical, perm);
        else
            result = EmitCopy(v, perm, _p.Tensors[v.Tensor].DType, _p.Tensors[v.Tensor].Name + (perm.SequenceEqual(Identity(perm.Length)) ? ".nchw" : ".nhwc"));
        _converted[key] = result;
        return result;
    }

    private Val EmitCopy(Val v, int[] perm, NativeDType dt, string name)
    {
        int y = NewTensor(name, dt, Apply(v.Logical, perm), TensorRole.Activation);
        AddCopyLayer(name, v, perm, y);
        return new Val(y, v.Logical, perm);
    }

    private unsafe void AddCopyLayer(string name, Val v, int[] perm, int output)
    {
        var prm = new CopyParams();
        for (int k = 0; k < perm.Length; k++)
        {
            prm.Perm[k] = Array.IndexOf(v.Perm, perm[k]);
            prm.Start[k] = 0;
            prm.Step[k] = 1;
        }
        var saved = _node;
        _node = null!;
        var bytes = LayerProgram.ParamBytes(prm);
        string lname = _p.Layers.Any(l => l.Name == name) ? $"{name}#{_p.Layers.Count}" : name;
        _p.Layers.Add(new ProgramLayer { Name = lname, Kind = LayerKind.Copy, Params = bytes, Inputs = [v.Tensor], Outputs = [output] });
        _node = saved;
    }

    /// <summary>A strided slice in the value's own memory order; starts/steps are per logical axis.</summary>
    private unsafe int EmitSlice(Val x, long[] starts, long[] steps, Dim[] outLogical, string name)
    {
        var prm = new CopyParams();
        for (int k = 0; k < x.Perm.Length; k++)
        {
            prm.Perm[k] = k;
            prm.Start[k] = starts[x.Perm[k]];
            prm.Step[k] = steps[x.Perm[k]];
        }
        int y = NewTensor(name, _p.Tensors[x.Tensor].DType, Apply(outLogical, x.Perm), TensorRole.Activation);
        AddLayer(LayerKind.Copy, prm, [x.Tensor], [y]);
        return y;
    }
}
