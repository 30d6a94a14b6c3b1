using Microsoft.ML.OnnxRuntime;
using TrtNative.Ir;
using TrtNative.Onnx;
using Xunit;

namespace TrtNative.Tests;

public class OnnxExporterTests
{
    /// <summary>A graph built in C# with float, bool and int64 initializers, a Constant tensor attribute and a batch symbol.</summary>
    private static Graph BuildGraph()
    {
        var g = new Graph { Name = "built" };
        g.Opsets[""] = 13;
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [Dim.Sym("batch"), Dim.Of(3)]));
        g.Initializers["c"] = Tensor.FromFloats([0.5f, 1f, -1f], [3]);
        g.Initializers["mask"] = Tensor.FromInts([1, 0, 1], [3], DataType.Bool);
        g.Initializers["shape"] = Tensor.FromInts([-1, 1], [2]);
        g.Nodes.Add(new Node("Add", ["x", "c"], ["a"], "add"));
        g.Nodes.Add(new Node("Where", ["mask", "a", "x"], ["z"], "where"));
        g.Nodes.Add(new Node("Reshape", ["z", "shape"], ["y"], "reshape"));
        g.Nodes.Add(new Node("Constant", [], ["k"], "two").Set("value", AttributeValue.Of(Tensor.FromFloats([2f], [1]))));
        g.Nodes.Add(new Node("Mul", ["a", "k"], ["y2"], "mul"));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, [Dim.Sym("batch", 3), Dim.Of(1)]));
        g.Outputs.Add(new ValueInfo("y2", DataType.Float, [Dim.Sym("batch"), Dim.Of(3)]));
        return g;
    }

    [Fact]
    public void ExportedModelRunsInOnnxRuntime()
    {
        using var session = new InferenceSession(OnnxExporter.ToBytes(BuildGraph()));
        Assert.Equal("batch", session.InputMetadata["x"].SymbolicDimensions[0]);

        float[] x = [1, -2, 3, 4, 5, -6];
        using var input = OrtValue.CreateTensorValueFromMemory(x, [2, 3]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, ["x"], [input], ["y", "y2"]);

        Assert.Equal([6L, 1], results[0].GetTensorTypeAndShape().Shape);
        Assert.Equal([1.5f, -2, 2, 4.5f, 5, -7], results[0].GetTensorDataAsSpan<float>().ToArray());
        Assert.Equal([3f, -2, 4, 9, 12, -14], results[1].GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void ExportThenImportKeepsTheGraph()
    {
        var g = BuildGraph();
        var back = OnnxImporter.Parse(OnnxExporter.ToBytes(g)) is var m ? OnnxImporter.Convert(m, null) : null!;

        Assert.Equal(g.Dump(includeShapes: false), back.Dump(includeShapes: false));
        Assert.Equal(g.Inputs.Select(i => i.ToString()), back.Inputs.Select(i => i.ToString()));
        Assert.Equal(g.Outputs.Select(o => o.ToString()), back.Outputs.Select(o => o.ToString()));
        Assert.Equal(DataType.Bool, back.Initializers["mask"].Type);
        Assert.Equal([1L, 0, 1], back.Initializers["mask"].Ints!);
        Assert.Equal([-1L, 1], back.Initializers["shape"].Ints!);
        Assert.Equal([2f], back.Nodes[3].GetTensor("value")!.Floats!);
    }

    [Fact]
    public void FusedOpDomainGetsAnOpsetImport()
    {
        var g = BuildGraph();
        g.Nodes[4] = new Node("FusedMatMul", ["a", "k"], ["y2"], "fused", Node.TrtNativeDomain).Set("activation", "Relu");
        var m = OnnxImporter.Parse(OnnxExporter.ToBytes(g));
        Assert.Equal(13, m.OpsetImport.Single(o => o.Domain == "").Version);
        Assert.Equal(1, m.OpsetImport.Single(o => o.Domain == Node.TrtNativeDomain).Version);
        var back = OnnxImporter.Convert(m, null);
        Assert.Equal("trtnative.FusedMatMul", back.Nodes[4].QualifiedOp);
        Assert.Equal("Relu", back.Nodes[4].GetString("activation", ""));
    }

    [Fact]
    public void GraphWithoutOpsetIsRefused()
    {
        var g = BuildGraph();
        g.Opsets.Clear();
        var e = Assert.Throws<TrtNativeException>(() => OnnxExporter.ToBytes(g));
        Assert.Equal(ErrorCode.InvalidArgument, e.Code);
    }

    [Fact]
    public void SymbolicInitializerIsRefused()
    {
        var g = BuildGraph();
        g.Initializers["shape"] = Tensor.FromDims([Dim.Sym("batch"), Dim.Of(3)]);
        var e = Assert.Throws<TrtNativeException>(() => OnnxExporter.ToBytes(g));
        Assert.Contains("'shape'", e.Message);
    }
}
