namespace TrtNative.Ir;

/// <summary>Element types, numbered as ONNX's TensorProto.DataType so import is a cast.</summary>
public enum DataType
{
    Undefined = 0, Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7,
    String = 8, Bool = 9, Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13, BFloat16 = 16,
}

/// <summary>Facts about <see cref="DataType"/> values.</summary>
public static class DataTypeInfo
{
    /// <summary>True for types stored as floating point (<see cref="Tensor.Floats"/>).</summary>
    public static bool IsFloating(this DataType t) => t is DataType.Float or DataType.Float16 or DataType.Double or DataType.BFloat16;

    /// <summary>True for integer and bool types (<see cref="Tensor.Ints"/>).</summary>
    public static bool IsIntegral(this DataType t) => t is DataType.UInt8 or DataType.Int8 or DataType.UInt16 or DataType.Int16
        or DataType.Int32 or DataType.Int64 or DataType.Bool or DataType.UInt32 or DataType.UInt64;

    /// <summary>Bytes per element in ONNX raw_data.</summary>
    public static int SizeInBytes(this DataType t) => t switch
    {
        DataType.Float or DataType.Int32 or DataType.UInt32 => 4,
        DataType.UInt8 or DataType.Int8 or DataType.Bool => 1,
        DataType.UInt16 or DataType.Int16 or DataType.Float16 or DataType.BFloat16 => 2,
        DataType.Int64 or DataType.Double or DataType.UInt64 => 8,
        _ => throw new TrtNativeException(ErrorCode.Unsupported, $"data type {t} has no fixed element size"),
    };

    /// <summary>ONNX spelling, for messages and dumps.</summary>
    public static string OnnxName(this DataType t) => t switch
    {
        DataType.Float => "float32", DataType.Float16 => "float16", DataType.Double => "float64", DataType.BFloat16 => "bfloat16",
        _ => t.ToString().ToLowerInvariant(),
    };
}
