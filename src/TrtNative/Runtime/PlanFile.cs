using System.Security.Cryptography;
using System.Text;
using TrtNative.Cuda;

namespace TrtNative.Runtime;

/// <summary>
/// What a serialized plan was built for. A plan is valid only on the same GPU model, with the same libraries, for
/// the same model bytes and builder configuration; <see cref="PlanFile.Read(string, PlanExpectations?)"/> checks that.
/// </summary>
public sealed record PlanHeader
{
    /// <summary>The plan format version; <see cref="PlanFile.Write(string, PlanHeader, ReadOnlySpan{byte})"/> always writes <see cref="PlanFile.FormatVersion"/>.</summary>
    public int FormatVersion { get; init; } = PlanFile.FormatVersion;

    /// <summary>GPU name the plan was built on (e.g. "NVIDIA H100 80GB HBM3").</summary>
    public required string GpuName { get; init; }

    /// <summary>Compute capability of that GPU.</summary>
    public required ComputeCapability ComputeCapability { get; init; }

    /// <summary>CUDA driver version (cuDriverGetVersion numbering, e.g. 12040).</summary>
    public required int CudaDriverVersion { get; init; }

    /// <summary>cuDNN version as the caller gives it (cudnnGetVersion numbering, e.g. 90100).</summary>
    public required long CudnnVersion { get; init; }

    /// <summary>cuBLASLt version as the caller gives it (cublasLtGetVersion numbering).</summary>
    public required long CublasLtVersion { get; init; }

    /// <summary>SHA-256 of the model (see <see cref="Runtime.ModelHash"/>), 64 lowercase hex digits.</summary>
    public required string ModelHash { get; init; }

    /// <summary>The options the engine was built with, stored typed (the canonical text is derived for display).</summary>
    public required BuildSettings Settings { get; init; }
}

/// <summary>
/// What the reader expects a plan to match. Each property left null is not checked; <see cref="Matching"/> checks
/// everything a header records.
/// </summary>
public sealed record PlanExpectations
{
    /// <summary>Expected GPU name.</summary>
    public string? GpuName { get; init; }
    /// <summary>Expected compute capability.</summary>
    public ComputeCapability? ComputeCapability { get; init; }
    /// <summary>Expected CUDA driver version.</summary>
    public int? CudaDriverVersion { get; init; }
    /// <summary>Expected cuDNN version.</summary>
    public long? CudnnVersion { get; init; }
    /// <summary>Expected cuBLASLt version.</summary>
    public long? CublasLtVersion { get; init; }
    /// <summary>Expected model hash (hex, any case).</summary>
    public string? ModelHash { get; init; }
    /// <summary>Expected build options (compared option by option).</summary>
    public BuildSettings? Settings { get; init; }

    /// <summary>Expectations that require every field of <paramref name="current"/> (the environment and inputs here and now).</summary>
    public static PlanExpectations Matching(PlanHeader current) => new()
    {
        GpuName = current.GpuName,
        ComputeCapability = current.ComputeCapability,
        CudaDriverVersion = current.CudaDriverVersion,
        CudnnVersion = current.CudnnVersion,
        CublasLtVersion = current.CublasLtVersion,
        ModelHash = current.ModelHash,
        Settings = current.Settings,
    };
}

/// <summary>
/// The plan file: a header saying what the plan was built for, an opaque payload (the engine), and a SHA-256 over
/// both. Layout (little-endian): "TRTNPLAN", u32 format version, u32 header length, header fields (GPU, libraries,
/// model hash, then the build options: i32 precision, i64 workspace limit, i32 autotune, i32 precision protection, i32 profile inputs, each a
/// name, i32 rank and rank i64s for min, opt and max), u64 payload length, payload, 32-byte SHA-256 of everything
/// before it. Written atomically.
/// </summary>
public static class PlanFile
{
    /// <summary>The format version this code writes and reads.</summary>
    /// <remarks>Version 2 stores the build options typed (version 1 stored them as text); version 3 adds the precision
    /// protection flag to them and the nodes kept in fp32 to the payload; version 4 adds the optimization level to them.
    /// Older plans are stale.</remarks>
    public const int FormatVersion = 4;

    private static ReadOnlySpan<byte> Magic => "TRTNPLAN"u8;
    private const int ChecksumSize = 32;

    /// <summary>
    /// Writes <paramref name="header"/> and <paramref name="payload"/> to <paramref name="path"/> atomically: a reader
    /// sees the old file or the complete new one; a failure mid-write leaves the old file and no temporary file.
    /// </summary>
    public static void Write(string path, PlanHeader header, ReadOnlySpan<byte> payload) => Write(path, header, payload, null);

    internal static unsafe void Write(string path, PlanHeader header, ReadOnlySpan<byte> payload, Func<Stream, Stream>? wrap)
    {
        ArgumentNullException.ThrowIfNull(header);
        byte[] head = EncodeHeader(header, payload.Length);
        fixed (byte* p = payload)
        {
            // The payload may be hundreds of MiB: stream it to the file and hash it on the way instead of copying.
            byte* pp = p;
            int length = payload.Length;
            AtomicFile.Write(path, s =>
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var body = new ReadOnlySpan<byte>(pp, length);
                sha.AppendData(head);
                s.Write(head);
                const int chunk = 1 << 20;
                for (int off = 0; off < body.Length; off += chunk)
                {
                    var part = body.Slice(off, Math.Min(chunk, body.Length - off));
                    sha.AppendData(part);
                    s.Write(part);
                }
                s.Write(sha.GetHashAndReset());
            }, wrap);
        }
    }

    private static byte[] EncodeHeader(PlanHeader h, long payloadLength)
    {
        byte[] hash = ParseHash(h.ModelHash);
        var fields = new FormatWriter();
        fields.Str(h.GpuName);
        fields.I32(h.ComputeCapability.Major);
        fields.I32(h.ComputeCapability.Minor);
        fields.I32(h.CudaDriverVersion);
        fields.I64(h.CudnnVersion);
        fields.I64(h.CublasLtVersion);
        fields.Bytes(hash);
        h.Settings.Write(fields);
        byte[] fieldBytes = fields.ToArrayWithChecksum()[..^ChecksumSize];

        var w = new FormatWriter();
        w.Bytes(Magic);
        w.U32(FormatVersion);
        w.U32((uint)fieldBytes.Length);
        w.Bytes(fieldBytes);
        w.I64(payloadLength);
        return w.ToArrayWithChecksum()[..^ChecksumSize];
    }

    private static byte[] ParseHash(string hex)
    {
        if (hex is null || hex.Length != 64)
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"PlanHeader.ModelHash must be 64 hex digits (SHA-256), got '{hex}'.");
        try
        {
            return Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"PlanHeader.ModelHash is not hexadecimal: '{hex}'.");
        }
    }

    /// <summary>
    /// Reads and verifies a plan file. Throws <see cref="ErrorCode.CorruptPlan"/> when the file is damaged (bad magic,
    /// truncated, checksum mismatch) and <see cref="ErrorCode.StalePlan"/> when it was built for something other than
    /// <paramref name="expected"/> (the message lists every difference).
    /// </summary>
    public static (PlanHeader Header, byte[] Payload) Read(string path, PlanExpectations? expected = null)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            throw new TrtNativeException(ErrorCode.InvalidArgument, $"Plan file '{path}' does not exist.");
        }
        return Read(data, expected, path);
    }

    /// <summary>Reads and verifies a plan held in memory; see <see cref="Read(string, PlanExpectations?)"/>.</summary>
    public static (PlanHeader Header, byte[] Payload) Read(ReadOnlySpan<byte> data, PlanExpectations? expected = null) =>
        Read(data, expected, "<memory>");

    private static (PlanHeader, byte[]) Read(ReadOnlySpan<byte> data, PlanExpectations? expected, string source)
    {
        // Not a plan at all (an ONNX model given as a plan, say): nothing to delete or rebuild.
        if (data.Length < Magic.Length || !data[..Magic.Length].SequenceEqual(Magic))
            throw new TrtNativeException(ErrorCode.CorruptPlan, $"'{source}' is not a TrtNative plan file (bad magic)");
        var r = new FormatReader(data);
        PlanHeader header;
        int payloadOffset;
        long payloadLength;
        try
        {
            r.Bytes(Magic.Length, "magic");
            uint version = r.U32("format version");
            if (version != FormatVersion)
                throw new TrtNativeException(ErrorCode.StalePlan,
                    $"Plan '{source}' has format version {version}, this TrtNative reads version {FormatVersion}: rebuild the engine.");
            uint headerLength = r.U32("header length");
            if (headerLength > (uint)r.Remaining)
                throw new FormatException($"truncated: header of {headerLength} bytes, only {r.Remaining} left");
            var fields = new FormatReader(r.Bytes((int)headerLength, "header"));
            string gpu = fields.Str("GPU name");
            int major = fields.I32("compute capability major"), minor = fields.I32("compute capability minor");
            int driver = fields.I32("CUDA driver version");
            long cudnn = fields.I64("cuDNN version"), cublasLt = fields.I64("cuBLASLt version");
            string hash = Convert.ToHexStringLower(fields.Bytes(32, "model hash"));
            var settings = BuildSettings.Read(ref fields);
            if (fields.Remaining != 0)
                throw new FormatException($"header has {fields.Remaining} unexpected trailing bytes");
            header = new PlanHeader
            {
                FormatVersion = (int)version,
                GpuName = gpu,
                ComputeCapability = new ComputeCapability(major, minor),
                CudaDriverVersion = driver,
                CudnnVersion = cudnn,
                CublasLtVersion = cublasLt,
                ModelHash = hash,
                Settings = settings,
            };
            payloadLength = r.I64("payload length");
            if (payloadLength < 0 || payloadLength > r.Remaining - ChecksumSize)
                throw new FormatException($"truncated: payload of {payloadLength} bytes plus a {ChecksumSize}-byte checksum, only {r.Remaining} bytes left");
            payloadOffset = r.Position;
            r.Bytes((int)payloadLength, "payload");
            if (r.Remaining != ChecksumSize)
                throw new FormatException($"{r.Remaining - ChecksumSize} unexpected bytes after the payload");
        }
        catch (FormatException e)
        {
            throw Corrupt(source, e.Message);
        }

        var stored = data[^ChecksumSize..];
        var actual = SHA256.HashData(data[..^ChecksumSize]);
        if (!stored.SequenceEqual(actual))
            throw Corrupt(source, "checksum mismatch (the file was modified or damaged)");

        if (expected is not null)
            CheckExpectations(header, expected, source);
        return (header, data.Slice(payloadOffset, (int)payloadLength).ToArray());
    }

    private static TrtNativeException Corrupt(string source, string what) =>
        new(ErrorCode.CorruptPlan, $"Plan '{source}' is corrupt: {what}. Delete it and rebuild the engine.");

    private static void CheckExpectations(PlanHeader h, PlanExpectations e, string source)
    {
        var diffs = new List<string>();
        if (e.GpuName is not null && e.GpuName != h.GpuName)
            diffs.Add($"GPU: plan built on '{h.GpuName}', this GPU is '{e.GpuName}'");
        if (e.ComputeCapability is { } cc && cc != h.ComputeCapability)
            diffs.Add($"compute capability: plan has {h.ComputeCapability}, this GPU has {cc}");
        if (e.CudaDriverVersion is { } dv && dv != h.CudaDriverVersion)
            diffs.Add($"CUDA driver version: plan has {h.CudaDriverVersion}, here {dv}");
        if (e.CudnnVersion is { } cv && cv != h.CudnnVersion)
            diffs.Add($"cuDNN version: plan has {h.CudnnVersion}, here {cv}");
        if (e.CublasLtVersion is { } bv && bv != h.CublasLtVersion)
            diffs.Add($"cuBLASLt version: plan has {h.CublasLtVersion}, here {bv}");
        if (e.ModelHash is not null && !string.Equals(e.ModelHash, h.ModelHash, StringComparison.OrdinalIgnoreCase))
            diffs.Add($"model: plan built from model {h.ModelHash[..12]}…, the model now hashes to {e.ModelHash[..Math.Min(12, e.ModelHash.Length)]}…");
        if (e.Settings is not null && !e.Settings.Equals(h.Settings))
            diffs.Add($"build options: plan has '{h.Settings.Canonical()}', expected '{e.Settings.Canonical()}'");
        if (diffs.Count > 0)
            throw new TrtNativeException(ErrorCode.StalePlan,
                $"Plan '{source}' is stale: {string.Join("; ", diffs)}. Rebuild the engine.");
    }
}

/// <summary>The model identity recorded in a plan: SHA-256 over the ONNX file and its external weight files.</summary>
public static class ModelHash
{
    /// <summary>
    /// Hashes the ONNX file at <paramref name="onnxPath"/> and every external data file its tensors reference
    /// (locations relative to the model's directory, in sorted order, each prefixed by its name and length).
    /// Returns 64 lowercase hex digits. Throws <see cref="ErrorCode.InvalidModel"/> if the file is not ONNX or an
    /// external data file is missing.
    /// </summary>
    public static string Compute(string onnxPath)
    {
        byte[] model;
        try
        {
            model = File.ReadAllBytes(onnxPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TrtNativeException(ErrorCode.InvalidModel, $"Cannot read model '{onnxPath}': {e.Message}", e);
        }
        return Compute(model, ParseForHash(model, onnxPath), onnxPath);
    }

    /// <summary>The hash of <see cref="Compute(string)"/> for model bytes already read and parsed from <paramref name="onnxPath"/>.</summary>
    internal static string Compute(byte[] model, global::Onnx.ModelProto proto, string onnxPath)
    {
        var locations = new SortedSet<string>(StringComparer.Ordinal);
        if (proto.Graph is not null)
            Collect(proto.Graph, locations);
        string dir = Path.GetDirectoryName(Path.GetFullPath(onnxPath))!;

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        AppendFramed(sha, "model", model);
        foreach (var loc in locations)
        {
            string file = Path.Combine(dir, loc);
            if (!File.Exists(file))
                throw new TrtNativeException(ErrorCode.InvalidModel, $"Model '{onnxPath}' references external data '{loc}', which does not exist at '{file}'.");
            AppendFramed(sha, "external:" + loc, File.ReadAllBytes(file));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    private static void AppendFramed(IncrementalHash sha, string name, byte[] bytes)
    {
        // Name and length framing keep (a+b, c) and (a, b+c) from hashing alike.
        var w = new FormatWriter();
        w.Str(name);
        w.I64(bytes.Length);
        sha.AppendData(w.ToArrayWithChecksum()[..^32]);
        sha.AppendData(bytes);
    }

    internal static SortedSet<string> ExternalDataLocations(byte[] model, string source)
    {
        var result = new SortedSet<string>(StringComparer.Ordinal);
        if (ParseForHash(model, source).Graph is { } g)
            Collect(g, result);
        return result;
    }

    private static global::Onnx.ModelProto ParseForHash(byte[] model, string source)
    {
        try
        {
            return global::Onnx.ModelProto.Parser.ParseFrom(model);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new TrtNativeException(ErrorCode.InvalidModel, $"'{source}' is not a valid ONNX model: {e.Message}", e);
        }
    }

    private static void Collect(global::Onnx.GraphProto g, SortedSet<string> into)
    {
        foreach (var t in g.Initializer)
            AddTensor(t, into);
        foreach (var n in g.Node)
            foreach (var a in n.Attribute)
            {
                if (a.T is not null)
                    AddTensor(a.T, into);
                foreach (var t in a.Tensors)
                    AddTensor(t, into);
                if (a.G is not null)
                    Collect(a.G, into);
                foreach (var sub in a.Graphs)
                    Collect(sub, into);
            }
    }

    private static void AddTensor(global::Onnx.TensorProto t, SortedSet<string> into)
    {
        if (t.DataLocation != global::Onnx.TensorProto.Types.DataLocation.External)
            return;
        foreach (var kv in t.ExternalData)
            if (kv.Key == "location")
                into.Add(kv.Value);
    }
}
