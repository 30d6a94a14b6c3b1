using Google.Protobuf;
using TrtNative.Cuda;
using TrtNative.Runtime;
using Xunit;

namespace TrtNative.Tests.Runtime;

/// <summary>A stream that fails after a given number of bytes, to simulate a crash or full disk mid-write.</summary>
internal sealed class ThrowingStream(Stream inner, long failAfter) : Stream
{
    private long _written;
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _written; set => throw new NotSupportedException(); }
    public override void Flush() => inner.Flush();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        long room = failAfter - _written;
        if (buffer.Length > room)
        {
            inner.Write(buffer[..(int)Math.Max(0, room)]);
            inner.Flush();
            throw new IOException("simulated crash mid-write");
        }
        inner.Write(buffer);
        _written += buffer.Length;
    }
}

public sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("trtn-test-").FullName;
    public string Path { get; }
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}

public class PlanFileTests
{
    internal static BuildSettings Settings(long workspace = 1L << 30, Precision precision = Precision.Fp16) =>
        new(precision, workspace, autotune: true, new Dictionary<string, InputShapeRange>
        {
            ["input"] = new([1, 3, 224, 224], [4, 3, 224, 224], [8, 3, 224, 224]),
        });

    private static PlanHeader Header(long workspace = 1L << 30) => new()
    {
        GpuName = "NVIDIA H100 80GB HBM3",
        ComputeCapability = new ComputeCapability(9, 0),
        CudaDriverVersion = 12040,
        CudnnVersion = 90100,
        CublasLtVersion = 120402,
        ModelHash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("model"u8)),
        Settings = Settings(workspace),
    };

    private static byte[] RandomBytes(int n)
    {
        var b = new byte[n];
        Random.Shared.NextBytes(b);
        return b;
    }

    private static byte[] WriteToBytes(PlanHeader h, byte[] payload)
    {
        using var dir = new TempDir();
        string p = dir.File("m.plan");
        PlanFile.Write(p, h, payload);
        return File.ReadAllBytes(p);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100_000)]
    [InlineData(3 << 20)] // more than one 1 MiB write chunk
    public void RoundTripKeepsHeaderAndPayload(int size)
    {
        using var dir = new TempDir();
        string path = dir.File("model.plan");
        var payload = RandomBytes(size);
        var h = Header() with { GpuName = "GPU ü 漢字" };
        PlanFile.Write(path, h, payload);

        var (h2, p2) = PlanFile.Read(path, PlanExpectations.Matching(h));
        Assert.Equal(h, h2);
        Assert.Equal(payload, p2);
        Assert.Equal(PlanFile.FormatVersion, h2.FormatVersion);

        var (h3, p3) = PlanFile.Read(File.ReadAllBytes(path));
        Assert.Equal(h, h3);
        Assert.Equal(payload, p3);
        Assert.Single(Directory.GetFiles(dir.Path)); // no temp file left behind
    }

    [Fact]
    public void OverwriteReplacesTheOldPlan()
    {
        using var dir = new TempDir();
        string path = dir.File("a.plan");
        PlanFile.Write(path, Header(1), RandomBytes(10));
        var payload = RandomBytes(20);
        PlanFile.Write(path, Header(2), payload);
        var (h, p) = PlanFile.Read(path);
        Assert.Equal(2, h.Settings.MaxWorkspaceSize);
        Assert.Equal(payload, p);
    }

    [Fact]
    public void BadMagicIsCorrupt()
    {
        var bytes = WriteToBytes(Header(), RandomBytes(64));
        bytes[0] = (byte)'X';
        var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(bytes));
        Assert.Equal(ErrorCode.CorruptPlan, e.Code);
        Assert.Contains("magic", e.Message);

        var empty = Assert.Throws<TrtNativeException>(() => PlanFile.Read(ReadOnlySpan<byte>.Empty));
        Assert.Equal(ErrorCode.CorruptPlan, empty.Code);
    }

    [Fact]
    public void EveryTruncationIsCorrupt()
    {
        var bytes = WriteToBytes(Header(), RandomBytes(300));
        for (int cut = 0; cut < bytes.Length; cut++)
        {
            var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(bytes.AsSpan(0, cut)));
            Assert.True(e.Code == ErrorCode.CorruptPlan, $"cut at {cut}: {e.Code} {e.Message}");
        }
        var mid = Assert.Throws<TrtNativeException>(() => PlanFile.Read(bytes.AsSpan(0, bytes.Length - 100)));
        Assert.Contains("truncated", mid.Message);
    }

    [Fact]
    public void AnyFlippedByteIsDetected()
    {
        var bytes = WriteToBytes(Header(), RandomBytes(200));
        // Skip the magic (covered above) and the version field (a changed version is reported as stale).
        for (int i = 12; i < bytes.Length; i++)
        {
            var copy = (byte[])bytes.Clone();
            copy[i] ^= 0x40;
            var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(copy));
            Assert.True(e.Code == ErrorCode.CorruptPlan, $"byte {i}: {e.Code} {e.Message}");
        }
        var payloadFlip = (byte[])bytes.Clone();
        payloadFlip[^40] ^= 1;
        Assert.Contains("checksum", Assert.Throws<TrtNativeException>(() => PlanFile.Read(payloadFlip)).Message);
    }

    [Fact]
    public void TrailingGarbageIsCorrupt()
    {
        var bytes = WriteToBytes(Header(), RandomBytes(50));
        var longer = bytes.Concat(new byte[] { 1, 2, 3 }).ToArray();
        Assert.Equal(ErrorCode.CorruptPlan, Assert.Throws<TrtNativeException>(() => PlanFile.Read(longer)).Code);
    }

    [Fact]
    public void OtherFormatVersionIsStale()
    {
        var bytes = WriteToBytes(Header(), RandomBytes(50));
        bytes[8] = 99;
        var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(bytes));
        Assert.Equal(ErrorCode.StalePlan, e.Code);
        Assert.Contains("format version 99", e.Message);
        Assert.Contains("rebuild the engine", e.Message);
    }

    public static TheoryData<string, string> StaleCases => new()
    {
        { "gpu", "GPU: plan built on 'NVIDIA H100 80GB HBM3', this GPU is 'NVIDIA A100-SXM4-40GB'" },
        { "cc", "compute capability: plan has 9.0, this GPU has 8.0" },
        { "driver", "CUDA driver version: plan has 12040, here 12060" },
        { "cudnn", "cuDNN version: plan has 90100, here 90300" },
        { "cublaslt", "cuBLASLt version: plan has 120402, here 120800" },
        { "model", "model: plan built from model" },
        { "config", "build options: plan has 'precision=Fp16;workspace=1073741824;autotune=True;protection=True;level=3;input=[1,3,224,224]..[8,3,224,224] (opt [4,3,224,224])', expected 'precision=Fp32;workspace=1073741824;autotune=True;protection=True;level=3;input=[1,3,224,224]..[8,3,224,224] (opt [4,3,224,224])'" },
    };

    [Theory]
    [MemberData(nameof(StaleCases))]
    public void EachMismatchIsStaleAndNamed(string field, string expectedText)
    {
        var h = Header();
        var payload = RandomBytes(40);
        var bytes = WriteToBytes(h, payload);
        var want = PlanExpectations.Matching(h);
        want = field switch
        {
            "gpu" => want with { GpuName = "NVIDIA A100-SXM4-40GB" },
            "cc" => want with { ComputeCapability = new ComputeCapability(8, 0) },
            "driver" => want with { CudaDriverVersion = 12060 },
            "cudnn" => want with { CudnnVersion = 90300 },
            "cublaslt" => want with { CublasLtVersion = 120800 },
            "model" => want with { ModelHash = new string('a', 64) },
            "config" => want with { Settings = Settings(precision: Precision.Fp32) },
            _ => throw new ArgumentException(field),
        };
        var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(bytes, want));
        Assert.Equal(ErrorCode.StalePlan, e.Code);
        Assert.Contains(expectedText, e.Message);
        Assert.Contains("Rebuild the engine", e.Message);
        Assert.DoesNotContain(";", e.Message.Replace(h.Settings.Canonical(), "").Replace(want.Settings!.Canonical(), "")); // exactly one difference listed

        // The same expectation with that field left unchecked (null) accepts the plan.
        var relaxed = field switch
        {
            "gpu" => want with { GpuName = null },
            "cc" => want with { ComputeCapability = null },
            "driver" => want with { CudaDriverVersion = null },
            "cudnn" => want with { CudnnVersion = null },
            "cublaslt" => want with { CublasLtVersion = null },
            "model" => want with { ModelHash = null },
            _ => want with { Settings = null },
        };
        Assert.Equal(payload, PlanFile.Read(bytes, relaxed).Payload);
    }

    [Fact]
    public void SeveralMismatchesAreAllListed()
    {
        var h = Header();
        var bytes = WriteToBytes(h, RandomBytes(10));
        var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(bytes,
            PlanExpectations.Matching(h) with { CudnnVersion = 1, GpuName = "Other GPU" }));
        Assert.Contains("cuDNN version", e.Message);
        Assert.Contains("'Other GPU'", e.Message);
        // Model hash comparison ignores hex case.
        Assert.NotNull(PlanFile.Read(bytes, new PlanExpectations { ModelHash = h.ModelHash.ToUpperInvariant() }).Payload);
    }

    [Fact]
    public void InvalidModelHashIsRejectedOnWrite()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<TrtNativeException>(() => PlanFile.Write(dir.File("x.plan"), Header() with { ModelHash = "abc" }, RandomBytes(4)));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
        Assert.False(File.Exists(dir.File("x.plan")));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(150)]
    [InlineData(5000)]
    public void CrashMidWriteKeepsTheOldFile(int failAfter)
    {
        using var dir = new TempDir();
        string path = dir.File("model.plan");
        var oldPayload = RandomBytes(1000);
        PlanFile.Write(path, Header(1), oldPayload);
        var before = File.ReadAllBytes(path);

        var ex = Assert.Throws<IOException>(() =>
            PlanFile.Write(path, Header(2), RandomBytes(10_000), s => new ThrowingStream(s, failAfter)));
        Assert.Contains("simulated crash", ex.Message);

        Assert.Equal(before, File.ReadAllBytes(path));
        var (h, p) = PlanFile.Read(path);
        Assert.Equal(1, h.Settings.MaxWorkspaceSize);
        Assert.Equal(oldPayload, p);
        Assert.Equal([path], Directory.GetFiles(dir.Path)); // temp file removed
    }

    [Fact]
    public void CrashOnFirstWriteCreatesNoFile()
    {
        using var dir = new TempDir();
        string path = dir.File("new.plan");
        Assert.Throws<IOException>(() => PlanFile.Write(path, Header(), RandomBytes(100), s => new ThrowingStream(s, 5)));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void MissingPlanFileIsAClearError()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<TrtNativeException>(() => PlanFile.Read(dir.File("nope.plan")));
        Assert.Contains("does not exist", e.Message);
    }
}

public class ModelHashTests
{
    private static void WriteModel(string path, bool external)
    {
        var init = new global::Onnx.TensorProto { Name = "W", DataType = (int)global::Onnx.TensorProto.Types.DataType.Float };
        init.Dims.Add(4);
        if (external)
        {
            init.DataLocation = global::Onnx.TensorProto.Types.DataLocation.External;
            init.ExternalData.Add(new global::Onnx.StringStringEntryProto { Key = "location", Value = "weights.bin" });
            init.ExternalData.Add(new global::Onnx.StringStringEntryProto { Key = "offset", Value = "0" });
        }
        else
        {
            init.FloatData.Add(new[] { 1f, 2f, 3f, 4f });
        }
        var g = new global::Onnx.GraphProto { Name = "g" };
        g.Initializer.Add(init);
        var node = new global::Onnx.NodeProto { OpType = "Identity" };
        node.Input.Add("W");
        node.Output.Add("Y");
        g.Node.Add(node);
        var model = new global::Onnx.ModelProto { IrVersion = 8, Graph = g };
        model.OpsetImport.Add(new global::Onnx.OperatorSetIdProto { Domain = "", Version = 17 });
        File.WriteAllBytes(path, model.ToByteArray());
    }

    [Fact]
    public void HashCoversTheModelAndItsExternalWeights()
    {
        using var dir = new TempDir();
        string onnx = dir.File("m.onnx");
        WriteModel(onnx, external: true);
        File.WriteAllBytes(dir.File("weights.bin"), new byte[16]);

        string h1 = ModelHash.Compute(onnx);
        Assert.Matches("^[0-9a-f]{64}$", h1);
        Assert.Equal(h1, ModelHash.Compute(onnx)); // deterministic
        Assert.Equal(["weights.bin"], ModelHash.ExternalDataLocations(File.ReadAllBytes(onnx), onnx));

        var w = new byte[16];
        w[7] = 1;
        File.WriteAllBytes(dir.File("weights.bin"), w);
        string h2 = ModelHash.Compute(onnx);
        Assert.NotEqual(h1, h2); // a weight change alone changes the hash

        File.Delete(dir.File("weights.bin"));
        var e = Assert.Throws<TrtNativeException>(() => ModelHash.Compute(onnx));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.Contains("weights.bin", e.Message);
    }

    [Fact]
    public void HashChangesWithTheModelBytes()
    {
        using var dir = new TempDir();
        WriteModel(dir.File("a.onnx"), external: false);
        WriteModel(dir.File("b.onnx"), external: false);
        Assert.Equal(ModelHash.Compute(dir.File("a.onnx")), ModelHash.Compute(dir.File("b.onnx")));
        var bytes = File.ReadAllBytes(dir.File("b.onnx"));
        var model = global::Onnx.ModelProto.Parser.ParseFrom(bytes);
        model.Graph.Initializer[0].FloatData[2] = 3.5f;
        File.WriteAllBytes(dir.File("b.onnx"), model.ToByteArray());
        Assert.NotEqual(ModelHash.Compute(dir.File("a.onnx")), ModelHash.Compute(dir.File("b.onnx")));
    }

    [Fact]
    public void NonOnnxInputIsInvalidModel()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("x.onnx"), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        Assert.Equal(ErrorCode.InvalidModel, Assert.Throws<TrtNativeException>(() => ModelHash.Compute(dir.File("x.onnx"))).Code);
        Assert.Equal(ErrorCode.InvalidModel, Assert.Throws<TrtNativeException>(() => ModelHash.Compute(dir.File("missing.onnx"))).Code);
    }
}
