using System.Runtime.InteropServices;

namespace TrtNative.Interop;

// Blittable mirrors of the structs in native/include/trtnative.h. Field order and types must match exactly: StructLayoutTests
// compares every field's offset and size with the header's (compiled by a C compiler), and NativeLibraryLoader compares
// every layer-parameter size (from Compiler/LayerKinds.cs) with trtn_layer_params_size at load.

internal enum NativeDType { Float32 = 0, Float16 = 1, Int32 = 2, Int64 = 3, BFloat16 = 4 }

internal enum LayerKind
{
    Conv = 1, Gemm = 2, Binary = 3, Unary = 4, Pool = 5, Softmax = 6, LayerNorm = 7, Reduce = 8,
    Copy = 9, Concat = 10, Resize = 11, Gather = 12, Pad = 13, Attention = 14,
}

/// <summary>
/// trtn_unary_op: 0..8 are <see cref="Ops.ActivationKind"/> in the same order, 9 is exact (erf) GELU, 10 GELU's tanh
/// approximation (cuBLASLt's epilogue computes that one).
/// </summary>
internal enum UnaryOp
{
    None = 0, Relu = 1, Clip = 2, Sigmoid = 3, Silu = 4, HardSwish = 5, HardSigmoid = 6, LeakyRelu = 7, Tanh = 8, Gelu = 9, GeluTanh = 10,
    Exp = 20, Log = 21, Sqrt = 22, Neg = 23, Abs = 24, Erf = 25, Reciprocal = 26, Floor = 27, Ceil = 28,
    Softplus = 29, Elu = 30, Sin = 31, Cos = 32, Round = 33, Sign = 34, Selu = 35, PowScalar = 36,
}

internal enum BinaryOp { Add = 0, Sub = 1, Mul = 2, Div = 3, Pow = 4, Max = 5, Min = 6, PRelu = 7 }

[StructLayout(LayoutKind.Sequential)]
internal struct NativeActivation
{
    public int Kind;
    public float Alpha;
    public float Beta;
}

[StructLayout(LayoutKind.Sequential)]
internal struct ConvParams
{
    public int PadH, PadW, StrideH, StrideW, DilationH, DilationW, Groups, HasBias, HasResidual;
    public NativeActivation Act;
    public int Tactic;
}

[StructLayout(LayoutKind.Sequential)]
internal struct GemmParams
{
    public int TransA, TransB;
    public float Alpha;
    public int HasBias;
    public NativeActivation Act;
    public int Tactic;
    public int NormA;
    public float NormEpsilon;
}

[StructLayout(LayoutKind.Sequential)]
internal struct BinaryParams
{
    public int Op;
    public NativeActivation Act;
}

[StructLayout(LayoutKind.Sequential)]
internal struct UnaryParams
{
    public int Op;
    public float Alpha, Beta;
}

[StructLayout(LayoutKind.Sequential)]
internal struct PoolParams
{
    public int Mode, KernelH, KernelW, StrideH, StrideW, PadTop, PadLeft, PadBottom, PadRight, DilationH, DilationW, CountIncludePad;
}

[StructLayout(LayoutKind.Sequential)]
internal struct SoftmaxParams
{
    public int Axis, Log;
}

[StructLayout(LayoutKind.Sequential)]
internal struct LayerNormParams
{
    public int Axis;
    public float Epsilon;
    public int HasBias;
}

[StructLayout(LayoutKind.Sequential)]
internal struct ReduceParams
{
    public int Op, AxesMask;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct CopyParams
{
    public fixed int Perm[8];
    public fixed long Start[8];
    public fixed long Step[8];
}

[StructLayout(LayoutKind.Sequential)]
internal struct ConcatParams
{
    public int Axis;
}

[StructLayout(LayoutKind.Sequential)]
internal struct ResizeParams
{
    public int Mode, CoordMode, NearestMode, HAxis;
    public float ScaleH, ScaleW;
}

[StructLayout(LayoutKind.Sequential)]
internal struct GatherParams
{
    public int Axis;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct PadParams
{
    public int Mode;
    public float Value;
    public fixed long Begin[8];
}

/// <summary>
/// trtn_attention_params: each operand is a view of its tensor, view axis i = tensor dim perm[i] (-1 past the rank);
/// Q [.., Sq, D], K [.., Skv, D], V [.., Skv, Dv]; O = softmax(scale·QKᵀ)·V [.., Sq, Dv] written through OPerm.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct AttentionParams
{
    public fixed int QPerm[4];
    public fixed int KPerm[4];
    public fixed int VPerm[4];
    public fixed int OPerm[4];
    public float Scale;
    public int Tactic;
    public fixed int FixedAxis[3];
    public fixed int FixedIndex[3];
}

[StructLayout(LayoutKind.Sequential)]
internal struct BuildOptions
{
    public int Fp16;
    public int ReducedType;
    public ulong MaxWorkspaceBytes;
    public int OptimizationLevel;
}

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct DeviceInfo
{
    public fixed byte Name[256];
    public int CcMajor, CcMinor, Multiprocessors, CudaRuntimeVersion, CudaDriverVersion, CudnnVersion, CublasltVersion, Reserved;
    public ulong TotalMemory;
}

[StructLayout(LayoutKind.Sequential)]
internal struct ContextInfo
{
    public ulong WorkspaceBytes;
    public long EnqueueCount;
    public int GraphState;
    public int Reserved;
}

/// <summary>trtn_image_params: one image's normalisation for trtn_preprocess_images (64 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct ImageParams
{
    public float Scale;
    public fixed float Mean[4];
    public fixed float Std[4];
    public fixed int SrcChannel[4];
    public fixed int Reserved[3];
}

/// <summary>trtn_resize_item: one image of trtn_resize_images (48 bytes, device memory).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ResizeItem
{
    public ulong Src;
    public ulong Dst;
    public int SrcWidth, SrcHeight, SrcPitch;
    public int ResizeWidth, ResizeHeight;
    public int CropX, CropY;
    public int Interp;
}

/// <summary>trtn_jpeg_image: what trtn_jpeg_decoder_decode reports per file (32 bytes, host memory).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct JpegImage
{
    public ulong Pixels;
    public int Width, Height, Pitch;
    public int Status;
    public int NvjpegStatus;
    public int Reserved;
}
