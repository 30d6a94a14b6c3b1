using TrtNative.Ir;
using TrtNative.Ops;

namespace TrtNative.Passes;

public static partial class GraphPasses
{
    /// <summary>
    /// Rewrites an image stem that cuts the picture into patches — Conv with kernel = stride, no padding or dilation,
    /// one group, fewer than 8 input channels (ViT's 16×16 patch embedding, ConvNeXt's 4×4 stem) — as what it is:
    /// the patches laid out as rows (Reshape, Transpose, Reshape) times the weights (MatMul, then the bias Add), the
    /// result transposed back to NCHW. Convolution engines want input channels in multiples of 8 and a 3-channel
    /// image gives them 3; the patch GEMM's inner dimension is channels × kernel area (768 for ViT-B/16, 48 for
    /// ConvNeXt). On the H200 cuDNN took 0.96 ms for ViT-B/16's patch embedding at batch 128 (8% of the model),
    /// where the patch GEMM is about 30 GFLOP.
    /// </summary>
    /// <remarks>
    /// The patch rows are one rank-6 strided copy from the engine input, which also converts it to fp16 (MergeCopies
    /// sees through the rows' reshape); the GEMM then writes NHWC, which the tokens' reshape and transpose (ViT) or the
    /// channels-last LayerNorm (ConvNeXt) read as views. In the CPU lowering this took ViT-B/16 (torch 2's export) from 12
    /// to 11 copies and ConvNeXt-T from 3 to 2. Not yet timed on a GPU: <c>TRTN_PATCHIFY=0</c> leaves the convolution in place for
    /// the A/B (as the native TRTN_* switches do).
    /// The input's channels and spatial size must be known and the spatial size a multiple of the kernel; its batch
    /// may be symbolic (the Reshapes copy it with 0). Patch rows keep the channel-major order of the kernel
    /// (c, kh, kw), so the weights are only reshaped [Co, Ci·k·k] and transposed.
    /// </remarks>
    public static Graph PatchifyConvAsMatMul(Graph g, PassLog log)
    {
        const string pass = nameof(PatchifyConvAsMatMul);
        // Off for the A/B; below opset 5 a Reshape cannot take its shape as an input.
        if (Environment.GetEnvironmentVariable("TRTN_PATCHIFY") == "0" || g.Opset < 5) return g.Clone();
        g = g.Clone();
        ShapeInference.Run(g);
        bool changed = false;
        foreach (var conv in g.Nodes.Where(n => n.Domain.Length == 0 && n.OpType == "Conv").ToList())
        {
            if (PatchConv(g, conv) is not { } p) continue;
            var (ci, co, k, hp, wp) = p;
            var w = GraphEdit.FloatConstant(g, conv.Input(1))!;
            long kk = ci * k * k;
            var wt = MatrixOps.Transpose(w.Floats!, (int)co, (int)kk);  // [Co, Ci·k·k] -> [Ci·k·k, Co]

            string x = conv.Input(0), y = conv.Outputs[0], stem = conv.Name.Length > 0 ? conv.Name : y;
            string Const(string suffix, long[] values)
            {
                string name = GraphEdit.FreshName(g, $"{stem}_{suffix}");
                g.Initializers[name] = Tensor.FromInts(values, [values.Length]);
                return name;
            }
            string Value(string suffix) => GraphEdit.FreshName(g, $"{stem}_{suffix}");
            string split = Value("patches6d"), moved = Value("patches_moved"), rows = Value("patch_rows"), product = Value("patch_matmul");
            string weights = GraphEdit.FreshName(g, $"{conv.Input(1)}_patch_rows");
            g.Initializers[weights] = GraphEdit.Floats(wt, [kk, co], w.Type);
            var nodes = new List<Node>
            {
                new("Reshape", [x, Const("split_shape", [0, ci, hp, k, wp, k])], [split], Value("split_patches")),
                new Node("Transpose", [split], [moved], Value("move_patches")).Set("perm", new long[] { 0, 2, 4, 1, 3, 5 }),
                new("Reshape", [moved, Const("rows_shape", [0, hp, wp, kk])], [rows], Value("patch_rows_reshape")),
                new("MatMul", [rows, weights], [product], Value("patch_matmul")),
            };
            string nhwc = product;
            if (conv.HasInput(2))
            {
                nhwc = Value("patch_bias");
                nodes.Add(new Node("Add", [product, conv.Input(2)], [nhwc], Value("patch_bias_add")));
            }
            nodes.Add(new Node("Transpose", [nhwc], [y], Value("to_nchw")).Set("perm", new long[] { 0, 3, 1, 2 }));
            int at = g.Nodes.IndexOf(conv);
            g.Nodes.RemoveAt(at);
            g.Nodes.InsertRange(at, nodes);
            changed = true;
            log.Note(pass, $"Conv '{conv.Name}' ({ci} channels, {k}x{k} patches, stride {k}) -> patch rows [{hp}x{wp}, {kk}] x weights [{kk}, {co}]");
        }
        if (changed) ShapeInference.Run(g);
        return g;
    }

    /// <summary>The stem's channels in and out, kernel (= stride) and patch grid, or null when <paramref name="conv"/> is not such a stem.</summary>
    private static (long Ci, long Co, long K, long Hp, long Wp)? PatchConv(Graph g, Node conv)
    {
        if (conv.Outputs.Count != 1 || conv.GetInt("group", 1) != 1) return null;
        if (conv.GetString("auto_pad", "NOTSET") is not ("NOTSET" or "VALID")) return null;
        var w = GraphEdit.FloatConstant(g, conv.Input(1));
        if (w is not { Rank: 4 } || (conv.HasInput(2) && GraphEdit.FloatConstant(g, conv.Input(2)) is null)) return null;
        long co = w.Shape[0], ci = w.Shape[1], kh = w.Shape[2], kw = w.Shape[3];
        if (kh != kw || kh < 2 || ci >= 8 || ci * kh * kw % 8 != 0) return null;
        if (conv.GetInts("kernel_shape") is { } ks && !ks.SequenceEqual([kh, kw])) return null;
        if (conv.GetInts("strides") is not { } st || !st.SequenceEqual([kh, kw])) return null;
        if (conv.GetInts("pads") is { } pads && pads.Any(v => v != 0)) return null;
        if (conv.GetInts("dilations") is { } dil && dil.Any(v => v != 1)) return null;
        var xs = g.Values.GetValueOrDefault(conv.Input(0))?.Shape;
        if (xs is not { Length: 4 } || !xs[1].IsKnown || xs[1].Value != ci || !xs[2].IsKnown || !xs[3].IsKnown) return null;
        if (xs[2].Value % kh != 0 || xs[3].Value % kw != 0) return null;
        return (ci, co, kh, xs[2].Value / kh, xs[3].Value / kw);
    }
}
