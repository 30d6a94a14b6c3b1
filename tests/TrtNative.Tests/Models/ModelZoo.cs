using TrtNative.Ir;
using TrtNative.Tests.Support;

namespace TrtNative.Tests.Models;

/// <summary>
/// Small members of the ResNet, MobileNetV2, EfficientNet and ViT families built in C#, with the op patterns their
/// exporters emit (BatchNorm unfused, Relu6 as Clip, SiLU as x·Sigmoid(x), GELU via Erf, attention from
/// MatMul/Softmax, shape chains over the symbolic "batch" dimension). Widths and resolutions are small so the
/// reference executor runs them in well under a second; weights are random (seeded) with He-style scaling so
/// activations stay O(1) through the network.
/// </summary>
public static class ModelZoo
{
    /// <summary>The symbolic batch dimension of every zoo model's input and output.</summary>
    public const string Batch = "batch";

    /// <summary>Opset of the zoo models (LayerNormalization needs 17).</summary>
    public const int Opset = 17;

    /// <summary>Names accepted by <see cref="Build"/>.</summary>
    public static readonly string[] Names = ["resnet", "mobilenetv2", "efficientnet", "vit", "mobilenetv2_opset10", "vit_opset12"];

    /// <summary>Builds the named model with weights drawn from <paramref name="seed"/>.</summary>
    public static Graph Build(string name, int seed = 1) => name switch
    {
        "resnet" => ResNet(seed),
        "mobilenetv2" => MobileNetV2(seed),
        "efficientnet" => EfficientNet(seed),
        "vit" => ViT(seed),
        "mobilenetv2_opset10" => MobileNetV2(seed, opset: 10),
        "vit_opset12" => ViT(seed, opset: 12),
        _ => throw new ArgumentException($"unknown zoo model '{name}'; known: {string.Join(", ", Names)}"),
    };

    /// <summary>
    /// ResNet: 3×3 stem, Conv-BN-Relu, MaxPool, basic blocks (two with a projection shortcut of 1×1 stride-2
    /// Conv-BN), one bottleneck block, residual Add then Relu, GlobalAveragePool, Flatten, Gemm. Input [batch,3,32,32].
    /// </summary>
    public static Graph ResNet(int seed = 1)
    {
        var b = new GraphBuilder("zoo_resnet", seed);
        var x = b.Input("input", 3, 32, 32);
        x = b.Relu(b.BatchNorm(b.Conv(x, 3, 16, 3, 1, 1), 16));
        x = b.Node("MaxPool", [x], n => n.Set("kernel_shape", [3L, 3]).Set("strides", [2L, 2]).Set("pads", [1L, 1, 1, 1]));
        x = BasicBlock(b, x, 16, 16, 1);
        x = BasicBlock(b, x, 16, 32, 2);
        x = Bottleneck(b, x, 32, 16, 64, 1);
        x = BasicBlock(b, x, 64, 64, 2);
        x = b.Node("GlobalAveragePool", [x]);
        x = b.Node("Flatten", [x], n => n.Set("axis", 1L));
        b.Output(b.Gemm(x, 64, 10), "logits", 10);
        return b.Graph;
    }

    private static string BasicBlock(GraphBuilder b, string x, int cin, int cout, int stride)
    {
        var y = b.Relu(b.BatchNorm(b.Conv(x, cin, cout, 3, stride, 1), cout));
        y = b.BatchNorm(b.Conv(y, cout, cout, 3, 1, 1), cout, gammaScale: 0.5f);
        var shortcut = stride == 1 && cin == cout ? x : b.BatchNorm(b.Conv(x, cin, cout, 1, stride, 0), cout, gammaScale: 0.5f);
        return b.Relu(b.Add(y, shortcut));
    }

    private static string Bottleneck(GraphBuilder b, string x, int cin, int mid, int cout, int stride)
    {
        var y = b.Relu(b.BatchNorm(b.Conv(x, cin, mid, 1, 1, 0), mid));
        y = b.Relu(b.BatchNorm(b.Conv(y, mid, mid, 3, stride, 1), mid));
        y = b.BatchNorm(b.Conv(y, mid, cout, 1, 1, 0), cout, gammaScale: 0.5f);
        var shortcut = stride == 1 && cin == cout ? x : b.BatchNorm(b.Conv(x, cin, cout, 1, stride, 0), cout, gammaScale: 0.5f);
        // Shortcut first, as some exporters write it: passes must find the residual on either side of the Add.
        return b.Relu(b.Add(shortcut, y));
    }

    /// <summary>
    /// MobileNetV2: stride-2 stem with Relu6 (Clip 0..6), inverted residual blocks (1×1 expand, 3×3 depthwise,
    /// 1×1 linear projection, residual Add without activation when shapes allow), 1×1 head, GlobalAveragePool,
    /// Flatten, Gemm. Input [batch,3,32,32]. Below opset 11 Clip takes its bounds as attributes.
    /// </summary>
    public static Graph MobileNetV2(int seed = 2, int opset = Opset)
    {
        var b = new GraphBuilder(opset == Opset ? "zoo_mobilenetv2" : $"zoo_mobilenetv2_opset{opset}", seed, opset);
        var x = b.Input("input", 3, 32, 32);
        x = b.Relu6(b.BatchNorm(b.Conv(x, 3, 16, 3, 2, 1), 16));
        x = InvertedResidual(b, x, 16, 8, 1, 1);    // t = 1: no expansion conv
        x = InvertedResidual(b, x, 8, 16, 2, 6);
        x = InvertedResidual(b, x, 16, 16, 1, 6);   // residual
        x = InvertedResidual(b, x, 16, 24, 2, 6);
        x = InvertedResidual(b, x, 24, 24, 1, 6);   // residual
        x = b.Relu6(b.BatchNorm(b.Conv(x, 24, 64, 1, 1, 0), 64));
        x = b.Node("GlobalAveragePool", [x]);
        x = b.Node("Flatten", [x], n => n.Set("axis", 1L));
        b.Output(b.Gemm(x, 64, 10), "logits", 10);
        return b.Graph;
    }

    private static string InvertedResidual(GraphBuilder b, string x, int cin, int cout, int stride, int expand)
    {
        int hidden = cin * expand;
        var y = x;
        if (expand != 1) y = b.Relu6(b.BatchNorm(b.Conv(y, cin, hidden, 1, 1, 0), hidden));
        y = b.Relu6(b.BatchNorm(b.Conv(y, hidden, hidden, 3, stride, 1, group: hidden), hidden));
        y = b.BatchNorm(b.Conv(y, hidden, cout, 1, 1, 0), cout, gammaScale: 0.5f);
        return stride == 1 && cin == cout ? b.Add(x, y) : y;
    }

    /// <summary>
    /// EfficientNet: stride-2 stem with SiLU (x·Sigmoid(x)), MBConv blocks (1×1 expand, 3×3 or 5×5 depthwise,
    /// squeeze-excitation GlobalAveragePool → Conv → SiLU → Conv → Sigmoid → Mul, 1×1 projection, residual Add),
    /// 1×1 head, GlobalAveragePool, Flatten, Gemm. Input [batch,3,32,32].
    /// </summary>
    public static Graph EfficientNet(int seed = 3)
    {
        var b = new GraphBuilder("zoo_efficientnet", seed);
        var x = b.Input("input", 3, 32, 32);
        x = b.Silu(b.BatchNorm(b.Conv(x, 3, 16, 3, 2, 1), 16));
        x = MbConv(b, x, 16, 16, 3, 1, 1);  // t = 1, residual
        x = MbConv(b, x, 16, 24, 3, 2, 4);
        x = MbConv(b, x, 24, 24, 5, 1, 4);  // residual
        x = MbConv(b, x, 24, 40, 5, 2, 4);
        x = b.Silu(b.BatchNorm(b.Conv(x, 40, 64, 1, 1, 0), 64));
        x = b.Node("GlobalAveragePool", [x]);
        x = b.Node("Flatten", [x], n => n.Set("axis", 1L));
        b.Output(b.Gemm(x, 64, 10), "logits", 10);
        return b.Graph;
    }

    private static string MbConv(GraphBuilder b, string x, int cin, int cout, int k, int stride, int expand)
    {
        int hidden = cin * expand;
        var y = x;
        if (expand != 1) y = b.Silu(b.BatchNorm(b.Conv(y, cin, hidden, 1, 1, 0), hidden));
        y = b.Silu(b.BatchNorm(b.Conv(y, hidden, hidden, k, stride, k / 2, group: hidden), hidden));
        // Squeeze-excitation.
        int squeezed = Math.Max(1, cin / 4);
        var s = b.Node("GlobalAveragePool", [y]);
        s = b.Silu(b.Conv(s, hidden, squeezed, 1, 1, 0, bias: true));
        s = b.Node("Sigmoid", [b.Conv(s, squeezed, hidden, 1, 1, 0, bias: true)]);
        y = b.Mul(y, s);
        y = b.BatchNorm(b.Conv(y, hidden, cout, 1, 1, 0), cout, gammaScale: 0.5f);
        return stride == 1 && cin == cout ? b.Add(y, x) : y;
    }

    /// <summary>
    /// ViT: 8×8 patch Conv, Reshape [0,D,-1] and Transpose to tokens, a class token Expand-ed to the batch through a
    /// Shape → Slice → Concat chain and Concat-ed in front, position Add, two pre-norm encoder blocks
    /// (LayerNormalization, q/k/v/out MatMul+Add, per-head Reshape/Transpose, scaled MatMul → Softmax → MatMul
    /// attention, GELU MLP via Erf, residual Adds), final LayerNormalization, class token Gather, Gemm head.
    /// Input [batch,3,32,32], 17 tokens of width 32, 4 heads. Below opset 17 LayerNormalization is written out as
    /// exporters did before it existed (ReduceMean, Sub, Pow, Add, Sqrt, Div, Mul, Add), and below 13 Softmax has its
    /// old coerce-to-2-D semantics (the same here: it runs over the last axis).
    /// </summary>
    public static Graph ViT(int seed = 4, int opset = Opset)
    {
        const int image = 32, patch = 8, d = 32, heads = 4, mlp = 64, depth = 2, classes = 10;
        const int tokens = (image / patch) * (image / patch) + 1;
        var b = new GraphBuilder(opset == Opset ? "zoo_vit" : $"zoo_vit_opset{opset}", seed, opset);
        var input = b.Input("input", 3, image, image);

        var p = b.Conv(input, 3, d, patch, patch, 0, bias: true);
        p = b.Node("Reshape", [p, b.Ints("flatten_shape", 0, d, -1)]);
        p = b.Node("Transpose", [p], n => n.Set("perm", [0L, 2, 1]));

        var shape = b.Node("Shape", [input]);
        var batch = b.Node("Slice", [shape, b.Ints("slice_starts", 0), b.Ints("slice_ends", 1)]);
        var clsShape = b.Node("Concat", [batch, b.Ints("cls_tail", 1, d)], n => n.Set("axis", 0L));
        var cls = b.Node("Expand", [b.Weight("class_token", [1, 1, d], 0.5f), clsShape]);
        var t = b.Node("Concat", [cls, p], n => n.Set("axis", 1L));
        t = b.Add(t, b.Weight("pos_embedding", [1, tokens, d], 0.5f));

        float scale = 1f / MathF.Sqrt(d / heads);
        for (int layer = 0; layer < depth; layer++)
        {
            var h = b.LayerNorm(t, d);
            var q = SplitHeads(b, b.Linear(h, d, d), heads, d / heads, [0, 2, 1, 3]);
            var k = SplitHeads(b, b.Linear(h, d, d, biasFirst: true), heads, d / heads, [0, 2, 3, 1]);
            var v = SplitHeads(b, b.Linear(h, d, d), heads, d / heads, [0, 2, 1, 3]);
            var scores = b.Mul(b.Node("MatMul", [q, k]), b.Scalar("attn_scale", scale));
            var attn = b.Node("Softmax", [scores], n => n.Set("axis", -1L));
            var o = b.Node("MatMul", [attn, v]);
            o = b.Node("Transpose", [o], n => n.Set("perm", [0L, 2, 1, 3]));
            o = b.Node("Reshape", [o, b.Ints("merge_heads", 0, -1, d)]);
            t = b.Add(t, b.Linear(o, d, d));

            h = b.LayerNorm(t, d);
            h = b.Gelu(b.Linear(h, d, mlp));
            t = b.Add(t, b.Linear(h, mlp, d, biasFirst: true));
        }
        t = b.LayerNorm(t, d);
        var first = b.Node("Gather", [t, b.Init("cls_index", Tensor.FromInts([0], []))], n => n.Set("axis", 1L));
        b.Output(b.Gemm(first, d, classes), "logits", classes);
        return b.Graph;
    }

    private static string SplitHeads(GraphBuilder b, string x, int heads, int headDim, long[] perm)
    {
        var r = b.Node("Reshape", [x, b.Ints("split_heads", 0, -1, heads, headDim)]);
        return b.Node("Transpose", [r], n => n.Set("perm", perm));
    }
}

/// <summary>Builds a <see cref="Graph"/> layer by layer with random weights; every value and node gets a unique name.</summary>
public sealed class GraphBuilder
{
    private readonly Random _rng;
    private int _next;

    /// <summary>A graph named <paramref name="name"/> at <paramref name="opset"/>, weights drawn from <paramref name="seed"/>.</summary>
    public GraphBuilder(string name, int seed, int opset = ModelZoo.Opset)
    {
        Graph = new Graph { Name = name };
        Graph.Opsets[""] = opset;
        Opset = opset;
        _rng = new Random(seed);
    }

    /// <summary>The ai.onnx opset the layers are written for.</summary>
    public int Opset { get; }

    /// <summary>The graph built so far.</summary>
    public Graph Graph { get; }

    private string Fresh(string hint) => $"{hint}_{_next++}";

    /// <summary>Declares the float32 image input [batch, c, h, w].</summary>
    public string Input(string name, int c, int h, int w)
    {
        Graph.Inputs.Add(new ValueInfo(name, DataType.Float, [Dim.Sym(ModelZoo.Batch), Dim.Of(c), Dim.Of(h), Dim.Of(w)]));
        return name;
    }

    /// <summary>Renames the node output <paramref name="value"/> to <paramref name="name"/> and makes it the graph output, of shape [batch, classes].</summary>
    public void Output(string value, string name, int classes)
    {
        var producer = Graph.Nodes.Single(n => n.Outputs.Contains(value));
        producer.Outputs[producer.Outputs.IndexOf(value)] = name;
        foreach (var n in Graph.Nodes)
            for (int i = 0; i < n.Inputs.Count; i++) if (n.Inputs[i] == value) n.Inputs[i] = name;
        Graph.Outputs.Add(new ValueInfo(name, DataType.Float, [Dim.Sym(ModelZoo.Batch), Dim.Of(classes)]));
    }

    /// <summary>Adds an initializer; returns its (unique) name.</summary>
    public string Init(string hint, Tensor t)
    {
        var name = Fresh(hint);
        Graph.Initializers[name] = t;
        return name;
    }

    /// <summary>An int64 1-D initializer.</summary>
    public string Ints(string hint, params long[] values) => Init(hint, Tensor.FromInts(values, [values.Length]));

    /// <summary>A float32 scalar initializer.</summary>
    public string Scalar(string hint, float v) => Init(hint, Tensor.Scalar(v));

    /// <summary>A float32 initializer with N(0, std²) entries.</summary>
    public string Weight(string hint, long[] shape, float std) =>
        Init(hint, Tensor.FromFloats(RandomTensors.NormalFloats(_rng, shape.ElementCount(), std), shape));

    private string Uniform(string hint, long[] shape, float low, float high) =>
        Init(hint, Tensor.FromFloats(RandomTensors.UniformFloats(_rng, shape.ElementCount(), low, high), shape));

    /// <summary>Adds a node with one output; returns the output's name.</summary>
    public string Node(string op, string[] inputs, Action<Node>? attributes = null)
    {
        var name = Fresh(op.ToLowerInvariant());
        var n = new Node(op, inputs, [name + "_out"], name);
        attributes?.Invoke(n);
        Graph.Nodes.Add(n);
        return name + "_out";
    }

    /// <summary>Conv with He-scaled random weights (and a random bias when asked).</summary>
    public string Conv(string x, int cin, int cout, int k, int stride, int pad, int group = 1, bool bias = false)
    {
        var w = Weight("conv_w", [cout, cin / group, k, k], MathF.Sqrt(2f / (cin / group * k * k)));
        string[] inputs = bias ? [x, w, Weight("conv_b", [cout], 0.1f)] : [x, w];
        return Node("Conv", inputs, n => n.Set("kernel_shape", [(long)k, k]).Set("strides", [(long)stride, stride])
            .Set("pads", [(long)pad, pad, pad, pad]).Set("dilations", [1L, 1]).Set("group", (long)group));
    }

    /// <summary>BatchNormalization (inference form) with random scale, bias, running mean and variance.</summary>
    public string BatchNorm(string x, int c, float gammaScale = 1f)
    {
        var gamma = Uniform("bn_scale", [c], 0.5f * gammaScale, 1.5f * gammaScale);
        var beta = Weight("bn_bias", [c], 0.1f);
        var mean = Weight("bn_mean", [c], 0.1f);
        var variance = Uniform("bn_var", [c], 0.5f, 1.5f);
        return Node("BatchNormalization", [x, gamma, beta, mean, variance], n => n.Set("epsilon", 1e-5f).Set("momentum", 0.9f));
    }

    /// <summary>
    /// Layer normalization over the last axis with random scale and bias: LayerNormalization from opset 17, the
    /// ReduceMean/Sub/Pow/Sqrt/Div decomposition before.
    /// </summary>
    public string LayerNorm(string x, int d)
    {
        var scale = Uniform("ln_scale", [d], 0.5f, 1.5f);
        var bias = Weight("ln_bias", [d], 0.1f);
        if (Opset >= 17)
            return Node("LayerNormalization", [x, scale, bias], n => n.Set("axis", -1L).Set("epsilon", 1e-6f));
        if (Opset >= 18) throw new NotSupportedException("ReduceMean takes axes as an input from opset 18");
        void LastAxis(Node n) => n.Set("axes", [-1L]).Set("keepdims", 1L);
        var centered = Node("Sub", [x, Node("ReduceMean", [x], LastAxis)]);
        var variance = Node("ReduceMean", [Node("Pow", [centered, Scalar("two", 2f)])], LastAxis);
        var normalized = Node("Div", [centered, Node("Sqrt", [Add(variance, Scalar("ln_eps", 1e-6f))])]);
        return Add(Mul(normalized, scale), bias);
    }

    /// <summary>x·W + b as MatMul then Add (the exporter's form of a Linear layer on 3-D activations).</summary>
    public string Linear(string x, int din, int dout, bool biasFirst = false)
    {
        var mm = Node("MatMul", [x, Weight("linear_w", [din, dout], MathF.Sqrt(1f / din))]);
        var bias = Weight("linear_b", [dout], 0.1f);
        return biasFirst ? Add(bias, mm) : Add(mm, bias);
    }

    /// <summary>Gemm with transB = 1 and a bias (a classifier head).</summary>
    public string Gemm(string x, int din, int dout) =>
        Node("Gemm", [x, Weight("fc_w", [dout, din], MathF.Sqrt(1f / din)), Weight("fc_b", [dout], 0.1f)],
            n => n.Set("transB", 1L).Set("alpha", 1f).Set("beta", 1f));

    public string Add(string a, string b) => Node("Add", [a, b]);
    public string Mul(string a, string b) => Node("Mul", [a, b]);
    public string Relu(string x) => Node("Relu", [x]);

    /// <summary>Relu6 as exporters write it: Clip with min 0 and max 6, scalar inputs from opset 11, attributes before.</summary>
    public string Relu6(string x) => Opset >= 11
        ? Node("Clip", [x, Scalar("clip_min", 0f), Scalar("clip_max", 6f)])
        : Node("Clip", [x], n => n.Set("min", 0f).Set("max", 6f));

    /// <summary>SiLU as x·Sigmoid(x).</summary>
    public string Silu(string x) => Mul(x, Node("Sigmoid", [x]));

    /// <summary>Exact GELU as exporters write it: x · 0.5 · (1 + Erf(x / √2)).</summary>
    public string Gelu(string x)
    {
        var erf = Node("Erf", [Node("Div", [x, Scalar("sqrt2", MathF.Sqrt(2f))])]);
        return Mul(Mul(x, Scalar("half", 0.5f)), Add(erf, Scalar("one", 1f)));
    }
}
