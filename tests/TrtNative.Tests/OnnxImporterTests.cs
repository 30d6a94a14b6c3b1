using Google.Protobuf;
using Onnx;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Ops;
using Xunit;

namespace TrtNative.Tests;

/// <summary>
/// A few ops with naive test-only kernels, so the importer and the conformance harness can be tested without
/// depending on the op families (which live elsewhere and are tested there).
/// </summary>
internal static class OnnxTestOps
{
    public static OpRegistry Registry()
    {
        var r = new OpRegistry();
        r.Add("Relu", SameAsInput, ctx => ctx.SetOutput(0, Map(ctx.Input(0), x => Math.Max(0f, x))));
        r.Add("Neg", SameAsInput, ctx => ctx.SetOutput(0, Map(ctx.Input(0), x => -x)));
        r.Add("Identity", SameAsInput, ctx => ctx.SetOutput(0, ctx.Input(0)));
        r.Add("Add", ctx =>
        {
            if (!ctx.InputShape(0).SequenceEqual(ctx.InputShape(1))) throw ctx.Unsupported("test registry: Add without broadcasting only");
            ctx.SetOutput(0, ctx.InputType(0), ctx.InputShape(0));
        }, ctx =>
        {
            Tensor a = ctx.Input(0), b = ctx.Input(1);
            if (a.Floats is { } fa) ctx.SetOutput(0, Tensor.FromFloats(fa.Zip(b.Floats!, (x, y) => x + y).ToArray(), a.Shape, a.Type));
            else ctx.SetOutput(0, Tensor.FromInts(a.Ints!.Zip(b.Ints!, (x, y) => x + y).ToArray(), a.Shape, a.Type));
        });
        r.Add("Constant", ctx =>
        {
            var t = ctx.Node.GetTensor("value") ?? throw ctx.Unsupported("test registry: Constant needs 'value'");
            ctx.SetOutput(0, t.Type, Shapes.Of(t.Shape));
        }, ctx => ctx.SetOutput(0, ctx.Node.GetTensor("value")!));
        // Known to the registry so that models with Conv validate; no shape function or kernel in tests.
        r.Add("Conv", ctx => throw ctx.Unsupported("test registry has no Conv shape function"),
            ctx => throw ctx.Unsupported("test registry has no Conv kernel"));
        return r;
    }

    /// <summary>A registry that knows <paramref name="ops"/> (so a model using them validates) but cannot run them.</summary>
    public static OpRegistry Knowing(params string[] ops)
    {
        var r = new OpRegistry();
        foreach (var op in ops)
            r.Add(op, ctx => throw ctx.Unsupported("test registry: validation only"), ctx => throw ctx.Unsupported("test registry: validation only"));
        return r;
    }

    private static void SameAsInput(InferenceContext ctx) => ctx.SetOutput(0, ctx.InputType(0), ctx.InputShape(0));

    private static Tensor Map(Tensor t, Func<float, float> f) => t.Floats is { } d
        ? Tensor.FromFloats(d.Select(f).ToArray(), t.Shape, t.Type)
        : Tensor.FromInts(t.Ints!.Select(v => (long)f(v)).ToArray(), t.Shape, t.Type);

    /// <summary>A float tensor value info.</summary>
    public static ValueInfoProto Value(string name, int elemType, params object?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d switch
            {
                string s => new TensorShapeProto.Types.Dimension { DimParam = s },
                null => new TensorShapeProto.Types.Dimension(),
                _ => new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) },
            });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } } };
    }

    /// <summary>x:float[2,3] → Relu → y, opset 13, with whatever the caller adds.</summary>
    public static ModelProto ReluModel()
    {
        var m = new ModelProto { IrVersion = 7, Graph = new GraphProto { Name = "g" } };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        m.Graph.Input.Add(Value("x", 1, 2, 3));
        m.Graph.Output.Add(Value("y", 1, 2, 3));
        m.Graph.Node.Add(new NodeProto { OpType = "Relu", Input = { "x" }, Output = { "y" } });
        return m;
    }

    public static string NodeTestDir(string test)
    {
        var dir = Path.Combine(ConformanceTests.NodeTestRoot, test);
        Assert.True(Directory.Exists(dir), $"{dir} is missing: install the Debian package libonnx-testdata (apt-get install libonnx-testdata)");
        return dir;
    }
}

public class OnnxImporterTests
{
    private static readonly OpRegistry Ops = OnnxTestOps.Registry();

    [Fact]
    public void ImportsRealConvNodeTest()
    {
        var g = OnnxImporter.Load(Path.Combine(OnnxTestOps.NodeTestDir("test_conv_with_strides_padding"), "model.onnx"), Ops);

        Assert.Equal(11, g.Opset);
        Assert.Equal(["x", "W"], g.Inputs.Select(i => i.Name));
        Assert.Equal(Shapes.Of(1, 1, 7, 5), g.Inputs[0].Shape);
        Assert.Equal(Shapes.Of(1, 1, 3, 3), g.Inputs[1].Shape);
        Assert.Equal(DataType.Float, g.Inputs[0].Type);
        var y = Assert.Single(g.Outputs);
        Assert.Equal(Shapes.Of(1, 1, 4, 3), y.Shape);
        var conv = Assert.Single(g.Nodes);
        Assert.Equal("Conv", conv.OpType);
        Assert.Equal("Conv_0", conv.Name);
        Assert.Equal([3L, 3], conv.GetInts("kernel_shape")!);
        Assert.Equal([1L, 1, 1, 1], conv.GetInts("pads")!);
        Assert.Equal([2L, 2], conv.GetInts("strides")!);
        Assert.Empty(g.Initializers);
    }

    [Fact]
    public void ImportsResNet18()
    {
        var path = typeof(OnnxImporterTests).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().Single(a => a.Key == "ResNet18Path").Value!;
        Assert.True(File.Exists(path), $"{path} is missing: the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 should provide it");
        var g = OnnxImporter.Load(path, OnnxTestOps.Knowing("Conv", "BatchNormalization", "Relu", "Add", "MaxPool", "AveragePool"));

        Assert.Equal(8, g.Opset);
        var input = Assert.Single(g.Inputs); // the file lists only the image as input
        Assert.Equal("Input247", input.Name);
        Assert.Equal(Shapes.Of(1, 3, 224, 224), input.Shape);
        Assert.Equal(110, g.Initializers.Count);
        Assert.Equal(15908800, g.Initializers.Values.Sum(t => t.Length));
        Assert.Equal(74, g.Nodes.Count);
        Assert.Equal(22, g.OpCounts()["Conv"]);
        // Values checked against onnx.numpy_helper (python3-onnx 1.12).
        var w = g.Initializers["Parameter91"];
        Assert.Equal([64L, 3, 7, 7], w.Shape);
        Assert.Equal(-0.020473214f, w.Floats![0]);
        Assert.Equal(-0.0058155437f, w.Floats![^1]);
        Assert.Equal(-0.5832880790886499, w.Floats!.Sum(v => (double)v), 6);
        var conv = g.Nodes[0];
        Assert.Equal("Convolution249", conv.Name);
        Assert.Equal("NOTSET", conv.GetString("auto_pad", ""));
        Assert.Equal([3L, 3, 2, 2], conv.GetInts("pads")!);
    }

    [Fact]
    public void ImportsConstantNodeWithTensorAttribute()
    {
        var g = OnnxImporter.Load(Path.Combine(OnnxTestOps.NodeTestDir("test_constant"), "model.onnx"), Ops);

        var node = Assert.Single(g.Nodes);
        Assert.Equal("Constant", node.OpType);
        var t = node.GetTensor("value")!;
        Assert.Equal([5L, 5], t.Shape);
        Assert.Equal(1.764052391052246f, t.Floats![0]);
        Assert.Equal(2.269754648208618f, t.Floats![24]);
        Assert.Empty(g.Inputs);
    }

    [Fact]
    public void ConstantNodeScalarAttributesAreKept()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Node.Insert(0, new NodeProto
        {
            OpType = "Constant", Output = { "c" },
            Attribute = { new AttributeProto { Name = "value_ints", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 4, -5 } } },
        });
        m.Graph.Node.Add(new NodeProto
        {
            OpType = "Constant", Output = { "d" },
            Attribute = { new AttributeProto { Name = "value_float", Type = AttributeProto.Types.AttributeType.Float, F = 2.5f } },
        });
        var g = OnnxImporter.Load(m.ToByteArray(), null, Ops);

        Assert.Equal([4L, -5], g.Nodes[0].GetInts("value_ints")!);
        Assert.Equal(2.5f, g.Nodes[2].GetFloat("value_float", 0));
        Assert.Equal(["Constant_0", "Relu_1", "Constant_2"], g.Nodes.Select(n => n.Name));
    }

    private static TensorProto Typed(string name, int type, long[] dims, Action<TensorProto> fill)
    {
        var t = new TensorProto { Name = name, DataType = type };
        t.Dims.AddRange(dims);
        fill(t);
        return t;
    }

    [Fact]
    public void TypedAndRawInitializersReadTheSameAndRoundTripThroughTheExporter()
    {
        var m = OnnxTestOps.ReluModel();
        var inits = m.Graph.Initializer;
        inits.Add(Typed("f32", 1, [2], t => t.FloatData.AddRange([1.5f, -2.25f])));
        inits.Add(Typed("f32raw", 1, [2], t => t.RawData = ByteString.CopyFrom([0, 0, 0xC0, 0x3F, 0, 0, 0x10, 0xC0])));
        inits.Add(Typed("i64", 7, [3], t => t.Int64Data.AddRange([long.MinValue, 0, 1L << 40])));
        inits.Add(Typed("i64raw", 7, [1], t => t.RawData = ByteString.CopyFrom(BitConverter.GetBytes(-7L))));
        inits.Add(Typed("i32", 6, [2], t => t.Int32Data.AddRange([int.MinValue, 12])));
        inits.Add(Typed("i8", 3, [3], t => t.Int32Data.AddRange([-128, -1, 127])));
        inits.Add(Typed("u8", 2, [2], t => t.Int32Data.AddRange([0, 255])));
        inits.Add(Typed("b", 9, [3], t => t.Int32Data.AddRange([1, 0, 1])));
        inits.Add(Typed("braw", 9, [3], t => t.RawData = ByteString.CopyFrom([0, 1, 1])));
        inits.Add(Typed("f16", 10, [2], t => t.Int32Data.AddRange([BitConverter.HalfToUInt16Bits((Half)0.333f), BitConverter.HalfToUInt16Bits((Half)(-65504f))])));
        inits.Add(Typed("f16raw", 10, [1], t => t.RawData = ByteString.CopyFrom(BitConverter.GetBytes(BitConverter.HalfToUInt16Bits((Half)1.5f)))));
        inits.Add(Typed("f64", 11, [1], t => t.DoubleData.Add(0.1)));
        inits.Add(Typed("u64", 13, [1], t => t.Uint64Data.Add(123456789012UL)));
        inits.Add(Typed("empty", 1, [0, 4], _ => { }));

        var g = OnnxImporter.Load(m.ToByteArray(), null, Ops);
        Check(g);
        var again = OnnxImporter.Load(OnnxExporter.ToBytes(g), null, Ops);
        Check(again);
        // The exporter writes raw_data, so the second read took the other path.
        var exported = ModelProto.Parser.ParseFrom(OnnxExporter.ToBytes(g));
        Assert.All(exported.Graph.Initializer.Where(t => t.Dims.All(d => d > 0)), t => Assert.False(t.RawData.IsEmpty, t.Name));

        static void Check(Graph g)
        {
            var i = g.Initializers;
            Assert.Equal([1.5f, -2.25f], i["f32"].Floats!);
            Assert.Equal([1.5f, -2.25f], i["f32raw"].Floats!);
            Assert.Equal([long.MinValue, 0, 1L << 40], i["i64"].Ints!);
            Assert.Equal([-7L], i["i64raw"].Ints!);
            Assert.Equal([(long)int.MinValue, 12], i["i32"].Ints!);
            Assert.Equal([-128L, -1, 127], i["i8"].Ints!);
            Assert.Equal(DataType.Int8, i["i8"].Type);
            Assert.Equal([0L, 255], i["u8"].Ints!);
            Assert.Equal([1L, 0, 1], i["b"].Ints!);
            Assert.Equal(DataType.Bool, i["b"].Type);
            Assert.Equal([0L, 1, 1], i["braw"].Ints!);
            Assert.Equal(DataType.Float16, i["f16"].Type);
            Assert.Equal([(float)(Half)0.333f, -65504f], i["f16"].Floats!);
            Assert.Equal([1.5f], i["f16raw"].Floats!);
            Assert.Equal(DataType.Double, i["f64"].Type);
            Assert.Equal([0.1f], i["f64"].Floats!);
            Assert.Equal([123456789012L], i["u64"].Ints!);
            Assert.Equal([0L, 4], i["empty"].Shape);
        }
    }

    [Fact]
    public void ExternalDataIsReadRelativeToTheModel()
    {
        var dir = Directory.CreateTempSubdirectory("trtn-ext-").FullName;
        try
        {
            var data = new byte[8 + 16];
            for (int k = 0; k < 4; k++) BitConverter.GetBytes(k * 1.25f - 1).CopyTo(data, 8 + 4 * k);
            Directory.CreateDirectory(Path.Combine(dir, "weights"));
            File.WriteAllBytes(Path.Combine(dir, "weights", "w.bin"), data);

            var m = OnnxTestOps.ReluModel();
            var t = Typed("w", 1, [2, 2], t => t.DataLocation = TensorProto.Types.DataLocation.External);
            t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights/w.bin" });
            t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "8" });
            t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "16" });
            m.Graph.Initializer.Add(t);
            var path = Path.Combine(dir, "model.onnx");
            File.WriteAllBytes(path, m.ToByteArray());

            var g = OnnxImporter.Load(path, Ops);
            Assert.Equal([-1f, 0.25f, 1.5f, 2.75f], g.Initializers["w"].Floats!);

            // From bytes, the importer has no directory to look in.
            var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(File.ReadAllBytes(path), null, Ops));
            Assert.Equal(ErrorCode.InvalidArgument, e.Code);
            Assert.Contains("'w'", e.Message);

            // A location escaping the model directory is refused even though the file exists.
            File.WriteAllBytes(Path.Combine(Path.GetDirectoryName(dir)!, Path.GetFileName(dir) + "-evil.bin"), data);
            t.ExternalData[0].Value = $"../{Path.GetFileName(dir)}-evil.bin";
            File.WriteAllBytes(path, m.ToByteArray());
            e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(path, Ops));
            Assert.Equal(ErrorCode.InvalidModel, e.Code);
            Assert.Contains("outside the model directory", e.Message);

            // So is a link inside the directory that leads out of it.
            File.CreateSymbolicLink(Path.Combine(dir, "link.bin"), Path.Combine(Path.GetDirectoryName(dir)!, Path.GetFileName(dir) + "-evil.bin"));
            t.ExternalData[0].Value = "link.bin";
            File.WriteAllBytes(path, m.ToByteArray());
            e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(path, Ops));
            Assert.Equal(ErrorCode.InvalidModel, e.Code);
            Assert.Contains("outside the model directory", e.Message);

            // A range past the end of the file.
            t.ExternalData[0].Value = "weights/w.bin";
            t.ExternalData[1].Value = "12";
            File.WriteAllBytes(path, m.ToByteArray());
            e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(path, Ops));
            Assert.Equal(ErrorCode.InvalidModel, e.Code);
            Assert.Contains("offset 12, length 16", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
            File.Delete(dir + "-evil.bin");
        }
    }

    [Fact]
    public void InitializerListedAsInputIsNotARuntimeInput()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Node[0].Input[0] = "a";
        m.Graph.Node.Insert(0, new NodeProto { OpType = "Add", Input = { "x", "w" }, Output = { "a" } });
        m.Graph.Input.Add(OnnxTestOps.Value("w", 1, 2, 3));
        m.Graph.Initializer.Add(Typed("w", 1, [2, 3], t => t.FloatData.AddRange([1, 2, 3, 4, 5, 6])));

        var g = OnnxImporter.Load(m.ToByteArray(), null, Ops);

        Assert.Equal(["x"], g.Inputs.Select(i => i.Name));
        Assert.True(g.Initializers.ContainsKey("w"));
        var y = Reference.ReferenceExecutor.Run(g, new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats([-9, 0, -1, 0, 0, 0], [2, 3]) }, null, Ops)["y"];
        Assert.Equal([0f, 2, 2, 4, 5, 6], y.Floats!);
    }

    [Fact]
    public void SymbolicDimsBecomeSymbolsAndRoundTrip()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Input[0] = OnnxTestOps.Value("x", 1, "N", 3, null, "unk_0");
        m.Graph.Output[0] = OnnxTestOps.Value("y", 1, "N", 3, null, "unk_0");
        var g = OnnxImporter.Load(m.ToByteArray(), null, Ops);

        var shape = g.Inputs[0].Shape!;
        Assert.Equal(Dim.Sym("N"), shape[0]);
        Assert.Equal(Dim.Of(3), shape[1]);
        Assert.False(shape[2].IsKnown);
        Assert.NotEqual("N", shape[2].Symbol);
        Assert.NotEqual("unk_0", shape[2].Symbol); // a fresh name may not clash with the file's own dim_params
        Assert.Equal(Dim.Sym("unk_0"), shape[3]);

        g.Inputs[0] = g.Inputs[0] with { Shape = [Dim.Sym("N"), Dim.Of(3), Dim.Sym("N", 2), Dim.Of(1)] };
        var back = OnnxImporter.Load(OnnxExporter.ToBytes(g), null, Ops);
        Assert.Equal([Dim.Sym("N"), Dim.Of(3), Dim.Sym("N", 2), Dim.Of(1)], back.Inputs[0].Shape!);
        Assert.Equal(13, back.Opset);
    }

    [Fact]
    public void NodesGetUniqueNames()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Node[0].Output[0] = "a";
        m.Graph.Node[0].Name = "dup";
        m.Graph.Node.Add(new NodeProto { Name = "dup", OpType = "Neg", Input = { "a" }, Output = { "b" } });
        m.Graph.Node.Add(new NodeProto { OpType = "Relu", Input = { "b" }, Output = { "y" } });
        var g = OnnxImporter.Load(m.ToByteArray(), null, Ops);

        Assert.Equal(3, g.Nodes.Select(n => n.Name).Distinct().Count());
        Assert.Equal("dup", g.Nodes[0].Name);
        Assert.Equal("Relu_2", g.Nodes[2].Name);
    }

    [Fact]
    public void NodesOutOfOrderAreSorted()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Node[0].Input[0] = "a";
        m.Graph.Node.Add(new NodeProto { Name = "first", OpType = "Neg", Input = { "x" }, Output = { "a" } });
        var g = OnnxImporter.Load(m.ToByteArray(), null, Ops);
        Assert.Equal(["Neg", "Relu"], g.Nodes.Select(n => n.OpType));
    }

    [Fact]
    public void DuplicateValueNamesAreRejected()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Node.Add(new NodeProto { Name = "again", OpType = "Neg", Input = { "x" }, Output = { "y" } });
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(m.ToByteArray(), null, Ops));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.Contains("'y'", e.Message);
        Assert.Contains("unique", e.Message);
    }

    [Fact]
    public void UndefinedNodeInputIsRejected()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Node[0].Input[0] = "nowhere";
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(m.ToByteArray(), null, Ops));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.Contains("'nowhere'", e.Message);
    }

    [Fact]
    public void TruncatedModelIsInvalid()
    {
        var bytes = File.ReadAllBytes(Path.Combine(OnnxTestOps.NodeTestDir("test_conv_with_strides_padding"), "model.onnx"));
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(bytes[..(bytes.Length / 2)], null, Ops));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.StartsWith("not a valid ONNX model: ", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomBytesAreInvalid(int seed)
    {
        var bytes = new byte[4096];
        new Random(seed).NextBytes(bytes);
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(bytes, null, Ops));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.StartsWith("not a valid ONNX model: ", e.Message);
    }

    [Fact]
    public void ModelWithoutGraphOrNodesIsInvalid()
    {
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(new ModelProto { IrVersion = 7 }.ToByteArray(), null, Ops));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.Contains("no graph", e.Message);

        var m = OnnxTestOps.ReluModel();
        m.Graph.Node.Clear();
        e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(m.ToByteArray(), null, Ops));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.Contains("no nodes", e.Message);
    }

    [Theory]
    [InlineData(8, "string")]
    [InlineData(14, "complex64")]
    [InlineData(15, "complex128")]
    public void UnsupportedInitializerTypeNamesTensorAndType(int type, string name)
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Initializer.Add(Typed("weird", type, [1], t => t.RawData = ByteString.CopyFrom(new byte[16])));
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(m.ToByteArray(), null, Ops));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Contains("'weird'", e.Message);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void UnsupportedInputTypeNamesInput()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Input[0] = OnnxTestOps.Value("x", 14, 2, 3);
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(m.ToByteArray(), null, Ops));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Contains("graph input 'x'", e.Message);
        Assert.Contains("complex64", e.Message);
    }

    [Fact]
    public void RawDataOfWrongSizeNamesTensor()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Initializer.Add(Typed("short", 1, [2, 3], t => t.RawData = ByteString.CopyFrom(new byte[20])));
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(m.ToByteArray(), null, Ops));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.Contains("'short'", e.Message);
        Assert.Contains("20 bytes", e.Message);
        Assert.Contains("24", e.Message);

        m.Graph.Initializer[0] = Typed("few", 7, [4], t => t.Int64Data.AddRange([1, 2, 3]));
        e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(m.ToByteArray(), null, Ops));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.Contains("'few'", e.Message);
    }

    [Fact]
    public void UnknownOpFailsAtLoadNamingOpNodeAndOpset()
    {
        var g = new Graph { Name = "foo" };
        g.Opsets[""] = 13;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, Shapes.Of(2)));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, Shapes.Of(2)));
        g.Nodes.Add(new Node("FooBar", ["x"], ["y"], "my_foobar"));
        var bytes = OnnxExporter.ToBytes(g);

        // The default registry: what a user loading such a model gets.
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(bytes));
        Assert.Equal(ErrorCode.Unsupported, e.Code);
        Assert.Contains("FooBar", e.Message);
        Assert.Contains("'my_foobar'", e.Message);
        Assert.Contains("opset 13", e.Message);
        Assert.Contains("Supported ops:", e.Message);

        // With a registry that has ops, the supported list names them.
        e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(bytes, null, Ops));
        Assert.Contains("Relu", e.Message[e.Message.IndexOf("Supported ops:", StringComparison.Ordinal)..]);
    }

    [Fact]
    public void WrongDeclaredOutputShapeIsCaughtByShapeInference()
    {
        var m = OnnxTestOps.ReluModel();
        m.Graph.Output[0] = OnnxTestOps.Value("y", 1, 3, 2);
        var g = OnnxImporter.Load(m.ToByteArray(), null, Ops);

        var e = Assert.Throws<TrtNativeException>(() => ShapeInference.Run(g, Ops));
        Assert.Equal(ErrorCode.ShapeMismatch, e.Code);
        Assert.Contains("'y'", e.Message);
        Assert.Contains("[3,2]", e.Message);
        Assert.Contains("[2,3]", e.Message);
    }

    [Fact]
    public void ModelWithoutDefaultOpsetIsInvalid()
    {
        var m = OnnxTestOps.ReluModel();
        m.OpsetImport.Clear();
        var e = Assert.Throws<TrtNativeException>(() => OnnxImporter.Load(m.ToByteArray(), null, Ops));
        Assert.Equal(ErrorCode.InvalidModel, e.Code);
        Assert.Contains("opset", e.Message);
    }
}
