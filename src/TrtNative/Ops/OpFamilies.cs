namespace TrtNative.Ops;

/// <summary>Every op family's registration function. Each family lives in its own file.</summary>
internal static class OpFamilies
{
    public static readonly Action<OpRegistry>[] All =
    [
        ElementwiseOps.Register,   // unary activations, binary arithmetic with broadcasting, comparisons, Where
        ConvOps.Register,          // Conv
        PoolOps.Register,          // MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool
        NormalizationOps.Register, // BatchNormalization, LayerNormalization, Softmax, ReduceMean
        MatrixOps.Register,        // Gemm, MatMul
        ShapeOps.Register,         // Reshape, Flatten, Transpose, Concat, Squeeze, Unsqueeze, Shape, Gather, Slice, Cast, ...
        ResizeOps.Register,        // Resize, Pad
        FusedOps.Register,         // trtnative.FusedConv, trtnative.FusedGemm, trtnative.FusedMatMul, trtnative.Gelu
        AttentionOps.Register,     // trtnative.Attention
    ];
}
