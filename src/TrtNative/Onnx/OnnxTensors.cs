using System.Buffers.Binary;
using Google.Protobuf;
using Onnx;
using TrtNative.Ir;

namespace TrtNative.Onnx;

/// <summary>
/// Conversion between ONNX <c>TensorProto</c> messages and <see cref="Tensor"/>: raw_data (little-endian),
/// the typed fields (float_data, int32_data with fp16/bf16/bool/int8/int16 packed in it, int64_data, double_data,
/// uint64_data) and external data files.
/// </summary>
public static class OnnxTensors
{
    // ONNX TensorProto.DataType values with no DataType member: complex, float8, 4-bit types.
    private static readonly Dictionary<int, string> UnsupportedNames = new()
    {
        [8] = "string", [14] = "complex64", [15] = "complex128", [17] = "float8e4m3fn", [18] = "float8e4m3fnuz",
        [19] = "float8e5m2", [20] = "float8e5m2fnuz", [21] = "uint4", [22] = "int4", [23] = "float4e2m1",
    };

    /// <summary>True when an ONNX element type (TensorProto.DataType number) can be held by a <see cref="Tensor"/>.</summary>
    public static bool IsSupported(int onnxType) => onnxType is > 0 and <= 16 && onnxType is not (8 or 14 or 15);

    /// <summary>The ONNX spelling of an element type number, including the ones we do not support.</summary>
    public static string TypeName(int onnxType) =>
        UnsupportedNames.TryGetValue(onnxType, out var n) ? n : IsSupported(onnxType) ? ((DataType)onnxType).OnnxName() : $"type #{onnxType}";

    /// <summary>
    /// Converts <paramref name="onnxType"/> to a <see cref="DataType"/>, or throws <see cref="ErrorCode.Unsupported"/>
    /// naming <paramref name="what"/> (e.g. "initializer 'w'") and the type.
    /// </summary>
    public static DataType ToDataType(int onnxType, string what)
    {
        if (IsSupported(onnxType)) return (DataType)onnxType;
        if (onnxType == 0) throw new TrtNativeException(ErrorCode.InvalidModel, $"{what} has no element type");
        throw new TrtNativeException(ErrorCode.Unsupported,
            $"{what} has element type {TypeName(onnxType)}, which is not supported (supported: float32, float16, bfloat16, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64, bool)");
    }

    /// <summary>Reads a serialized TensorProto file (as the ONNX backend tests store inputs and outputs).</summary>
    public static Tensor ReadFile(string path)
    {
        TensorProto proto;
        try
        {
            proto = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new TrtNativeException(ErrorCode.InvalidModel, $"not a valid ONNX tensor file '{path}': {e.Message}", e);
        }
        return FromProto(proto, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    /// <summary>
    /// Converts a TensorProto. <paramref name="baseDirectory"/> is where external data files are looked up (the
    /// model's directory); a location outside it is refused.
    /// </summary>
    public static Tensor FromProto(TensorProto t, string? baseDirectory = null)
    {
        string what = $"tensor '{t.Name}'";
        var type = ToDataType(t.DataType, what);
        var shape = t.Dims.ToArray();
        if (shape.Any(d => d < 0))
            throw new TrtNativeException(ErrorCode.InvalidModel, $"{what} has a negative dimension {shape.Format()}");
        long n;
        try { n = checked(shape.ElementCount()); }
        catch (OverflowException) { throw new TrtNativeException(ErrorCode.InvalidModel, $"{what} has too many elements {shape.Format()}"); }

        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            return FromBytes(ReadExternal(t, baseDirectory), type, shape, n, what);
        if (t.RawData.Length > 0)
            return FromBytes(t.RawData.Span, type, shape, n, what);
        return FromTypedFields(t, type, shape, n, what);
    }

    private static Tensor FromBytes(ReadOnlySpan<byte> raw, DataType type, long[] shape, long n, string what)
    {
        int size = type.SizeInBytes();
        if (raw.Length != n * size)
            throw new TrtNativeException(ErrorCode.InvalidModel,
                $"{what}: raw data has {raw.Length} bytes but {type.OnnxName()}{shape.Format()} needs {n * size}");
        if (type == DataType.Float && BitConverter.IsLittleEndian)
        {
            var f = new float[n];
            System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw).CopyTo(f);
            return Tensor.FromFloats(f, shape, type);
        }
        if (type.IsFloating())
        {
            var f = new float[n];
            for (int i = 0; i < f.Length; i++)
            {
                var b = raw.Slice(i * size, size);
                f[i] = type switch
                {
                    DataType.Float => BinaryPrimitives.ReadSingleLittleEndian(b),
                    DataType.Float16 => (float)BinaryPrimitives.ReadHalfLittleEndian(b),
                    DataType.BFloat16 => BFloat16ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(b)),
                    _ => (float)BinaryPrimitives.ReadDoubleLittleEndian(b),
                };
            }
            return Tensor.FromFloats(f, shape, type);
        }
        var v = new long[n];
        for (int i = 0; i < v.Length; i++)
        {
            var b = raw.Slice(i * size, size);
            v[i] = type switch
            {
                DataType.UInt8 => b[0],
                DataType.Int8 => (sbyte)b[0],
                DataType.Bool => b[0] != 0 ? 1 : 0,
                DataType.UInt16 => BinaryPrimitives.ReadUInt16LittleEndian(b),
                DataType.Int16 => BinaryPrimitives.ReadInt16LittleEndian(b),
                DataType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(b),
                DataType.UInt32 => BinaryPrimitives.ReadUInt32LittleEndian(b),
                DataType.Int64 => BinaryPrimitives.ReadInt64LittleEndian(b),
                _ => unchecked((long)BinaryPrimitives.ReadUInt64LittleEndian(b)),
            };
        }
        return Tensor.FromInts(v, shape, type);
    }

    private static Tensor FromTypedFields(TensorProto t, DataType type, long[] shape, long n, string what)
    {
        // Which typed field holds each type is fixed by onnx.proto.
        (int count, string field) = type switch
        {
            DataType.Float => (t.FloatData.Count, "float_data"),
            DataType.Double => (t.DoubleData.Count, "double_data"),
            DataType.Int64 => (t.Int64Data.Count, "int64_data"),
            DataType.UInt32 or DataType.UInt64 => (t.Uint64Data.Count, "uint64_data"),
            _ => (t.Int32Data.Count, "int32_data"),
        };
        if (count != n)
            throw new TrtNativeException(ErrorCode.InvalidModel,
                $"{what}: {field} has {count} values but {type.OnnxName()}{shape.Format()} needs {n}");
        switch (type)
        {
            case DataType.Float: return Tensor.FromFloats(t.FloatData.ToArray(), shape, type);
            case DataType.Double: return Tensor.FromFloats(t.DoubleData.Select(d => (float)d).ToArray(), shape, type);
            case DataType.Float16:
                return Tensor.FromFloats(t.Int32Data.Select(b => (float)BitConverter.UInt16BitsToHalf((ushort)b)).ToArray(), shape, type);
            case DataType.BFloat16: return Tensor.FromFloats(t.Int32Data.Select(b => BFloat16ToFloat((ushort)b)).ToArray(), shape, type);
            case DataType.Int64: return Tensor.FromInts(t.Int64Data.ToArray(), shape, type);
            case DataType.UInt32 or DataType.UInt64: return Tensor.FromInts(t.Uint64Data.Select(u => unchecked((long)u)).ToArray(), shape, type);
            case DataType.Bool: return Tensor.FromInts(t.Int32Data.Select(b => b != 0 ? 1L : 0L).ToArray(), shape, type);
            case DataType.UInt8: return Tensor.FromInts(t.Int32Data.Select(b => (long)(byte)b).ToArray(), shape, type);
            case DataType.Int8: return Tensor.FromInts(t.Int32Data.Select(b => (long)(sbyte)b).ToArray(), shape, type);
            case DataType.UInt16: return Tensor.FromInts(t.Int32Data.Select(b => (long)(ushort)b).ToArray(), shape, type);
            case DataType.Int16: return Tensor.FromInts(t.Int32Data.Select(b => (long)(short)b).ToArray(), shape, type);
            default: return Tensor.FromInts(t.Int32Data.Select(b => (long)b).ToArray(), shape, type);
        }
    }

    private static byte[] ReadExternal(TensorProto t, string? baseDirectory)
    {
        string what = $"tensor '{t.Name}'";
        var entries = t.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (!entries.TryGetValue("location", out var location) || location.Length == 0)
            throw new TrtNativeException(ErrorCode.InvalidModel, $"{what} is stored externally but names no location");
        if (baseDirectory is null)
            throw new TrtNativeException(ErrorCode.InvalidArgument,
                $"{what} is stored in the external file '{location}', but the model was loaded from bytes without a base directory");
        if (Path.IsPathRooted(location))
            throw new TrtNativeException(ErrorCode.InvalidModel, $"{what}: external data location '{location}' must be relative to the model directory");

        var root = Path.GetFullPath(baseDirectory);
        var prefix = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        var full = Path.GetFullPath(Path.Combine(root, location));
        if (!full.StartsWith(prefix, StringComparison.Ordinal))
            throw new TrtNativeException(ErrorCode.InvalidModel, $"{what}: external data location '{location}' points outside the model directory '{root}'");
        if (!File.Exists(full))
            throw new TrtNativeException(ErrorCode.InvalidModel, $"{what}: external data file '{full}' does not exist");
        // A link inside the directory may still lead out of it.
        if (new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true) is { } target
            && !Path.GetFullPath(target.FullName).StartsWith(prefix, StringComparison.Ordinal))
            throw new TrtNativeException(ErrorCode.InvalidModel, $"{what}: external data file '{location}' is a link to '{target.FullName}', outside the model directory '{root}'");

        long offset = ParseLong(entries, "offset", 0, what);
        using var fs = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = ParseLong(entries, "length", fs.Length - offset, what);
        if (offset < 0 || length < 0 || offset + length > fs.Length)
            throw new TrtNativeException(ErrorCode.InvalidModel,
                $"{what}: external data range offset {offset}, length {length} is outside '{location}' ({fs.Length} bytes)");
        if (length > Array.MaxLength)
            throw new TrtNativeException(ErrorCode.Unsupported, $"{what}: external data of {length} bytes is too large for one host tensor");
        var bytes = new byte[length];
        fs.Seek(offset, SeekOrigin.Begin);
        fs.ReadExactly(bytes);
        return bytes;
    }

    private static long ParseLong(Dictionary<string, string> entries, string key, long fallback, string what)
    {
        if (!entries.TryGetValue(key, out var s)) return fallback;
        return long.TryParse(s, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v
            : throw new TrtNativeException(ErrorCode.InvalidModel, $"{what}: external data {key} '{s}' is not a number");
    }

    /// <summary>
    /// Converts a tensor to a TensorProto with raw_data (little-endian). Symbolic shape values cannot be written:
    /// they have no concrete value.
    /// </summary>
    public static TensorProto ToProto(Tensor t, string name)
    {
        if (t.IsSymbolic)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"tensor '{name}' is a symbolic shape value {t}; it has no concrete data to write");
        if (t.Type is DataType.String or DataType.Undefined)
            throw new TrtNativeException(ErrorCode.Unsupported, $"tensor '{name}' has element type {t.Type.OnnxName()}, which cannot be written");
        var p = new TensorProto { Name = name, DataType = (int)t.Type };
        p.Dims.AddRange(t.Shape);
        int size = t.Type.SizeInBytes();
        var raw = new byte[t.Length * size];
        for (int i = 0; i < t.Length; i++)
        {
            var b = raw.AsSpan(i * size, size);
            switch (t.Type)
            {
                case DataType.Float: BinaryPrimitives.WriteSingleLittleEndian(b, t.Floats![i]); break;
                case DataType.Float16: BinaryPrimitives.WriteHalfLittleEndian(b, (Half)t.Floats![i]); break;
                case DataType.BFloat16: BinaryPrimitives.WriteUInt16LittleEndian(b, FloatToBFloat16(t.Floats![i])); break;
                case DataType.Double: BinaryPrimitives.WriteDoubleLittleEndian(b, t.Floats![i]); break;
                case DataType.UInt8 or DataType.Int8: b[0] = unchecked((byte)t.Ints![i]); break;
                case DataType.Bool: b[0] = t.Ints![i] != 0 ? (byte)1 : (byte)0; break;
                case DataType.UInt16 or DataType.Int16: BinaryPrimitives.WriteUInt16LittleEndian(b, unchecked((ushort)t.Ints![i])); break;
                case DataType.UInt32 or DataType.Int32: BinaryPrimitives.WriteUInt32LittleEndian(b, unchecked((uint)t.Ints![i])); break;
                default: BinaryPrimitives.WriteInt64LittleEndian(b, t.Ints![i]); break;
            }
        }
        p.RawData = ByteString.CopyFrom(raw);
        return p;
    }

    private static float BFloat16ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    private static ushort FloatToBFloat16(float f)
    {
        // Round to nearest even, keeping NaN a NaN.
        if (float.IsNaN(f)) return 0x7FC0;
        uint u = BitConverter.SingleToUInt32Bits(f);
        u += 0x7FFF + ((u >> 16) & 1);
        return (ushort)(u >> 16);
    }
}
