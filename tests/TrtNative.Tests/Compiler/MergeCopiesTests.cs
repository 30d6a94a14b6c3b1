using System.Runtime.InteropServices;
using TrtNative.Compiler;
using TrtNative.Interop;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Passes;
using TrtNative.Tests.Models;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Compiler;

/// <summary><see cref="MergeCopies"/>: chained permute/convert copies become one; a copy read elsewhere stays.</summary>
public class MergeCopiesTests(ITestOutputHelper output)
{
    private (LayerProgram Program, double Error) LowerAndRun(Graph g, bool fp16, long[] shape)
    {
        var r = InterpretedLowering.Run(g, fp16, ("x", shape));
        output.WriteLine($"{string.Join(", ", r.Program.Layers.Select(l => $"{l.Kind} {l.Name}"))}; rel L2 {r.Error:E3} (seed {r.Seed})");
        return (r.Program, r.Error);
    }

    private static Graph ConvNet(bool inputAlsoOutput = false)
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(3), Dim.Of(6), Dim.Of(5)]);
        var y = b.Op("Conv", [x, b.Init("w", [4, 3, 3, 3]), b.Init("b", [4])], n => n.Set("pads", new long[] { 1, 1, 1, 1 }));
        return inputAlsoOutput ? b.Build(y, b.Op("Relu", x)) : b.Build(y);
    }

    /// <summary>fp16: the engine input is converted and made NHWC by one copy that the convolution reads.</summary>
    [Fact]
    public void Fp16InputIsConvertedAndPermutedInOneCopy()
    {
        var (program, err) = LowerAndRun(ConvNet(), fp16: true, [2, 3, 6, 5]);
        var conv = Assert.Single(program.Layers, l => l.Kind == LayerKind.Conv);
        var feed = program.Layers.Single(l => l.Outputs.Contains(program.Root(conv.Inputs[0])));
        Assert.Equal(LayerKind.Copy, feed.Kind);
        Assert.Equal(program.Inputs[0].TensorId, Assert.Single(feed.Inputs));
        Assert.Equal(NativeDType.Float16, program.Tensors[feed.Outputs[0]].DType);
        Assert.True(err <= 1e-2, $"rel L2 {err:E3}");
    }

    /// <summary>
    /// The convolution's NHWC output is made NCHW once (a layout copy) for the engine output's conversion and for a
    /// Relu behind a Flatten (a view of it): the layout copy is read elsewhere, so it is not merged into the conversion.
    /// </summary>
    [Fact]
    public void CopyReadElsewhereStays()
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(3), Dim.Of(6), Dim.Of(5)]);
        var y = b.Op("Conv", [x, b.Init("w", [4, 3, 3, 3]), b.Init("b", [4])], n => n.Set("pads", new long[] { 1, 1, 1, 1 }));
        var r = b.Op("Relu", b.Op("Flatten", y));
        var (program, err) = LowerAndRun(b.Build(y, r), fp16: true, [2, 3, 6, 5]);
        var conv = Assert.Single(program.Layers, l => l.Kind == LayerKind.Conv);
        var output = program.Outputs.Single(o => o.Name == y);
        var feed = program.Layers.Single(l => l.Outputs.Contains(output.TensorId));
        var layout = program.Layers.Single(l => l.Outputs.Contains(program.Root(Assert.Single(feed.Inputs))));
        Assert.Equal(LayerKind.Copy, layout.Kind);
        Assert.Equal(conv.Outputs[0], program.Root(Assert.Single(layout.Inputs)));
        Assert.Contains(program.Layers, l => l.Kind == LayerKind.Unary && program.Root(l.Inputs[0]) == layout.Outputs[0]);
        Assert.True(err <= 1e-2, $"rel L2 {err:E3}");
    }

    /// <summary>Transposes in a row fold into one permutation, checked against the reference executor.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ChainedPermutationsComposeCorrectly(bool fp16)
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(3), Dim.Of(4), Dim.Of(5)]);
        var t1 = b.Op("Transpose", [x], n => n.Set("perm", new long[] { 0, 2, 3, 1 }));
        var t2 = b.Op("Transpose", [t1], n => n.Set("perm", new long[] { 2, 0, 3, 1 }));
        var (program, err) = LowerAndRun(b.Build(t2), fp16, [2, 3, 4, 5]);
        Assert.True(program.Layers.Count(l => l.Kind == LayerKind.Copy) <= 2, "the transposes were not merged with the conversions");
        Assert.True(err <= (fp16 ? 1e-3 : 0), $"rel L2 {err:E3}");
    }

    [Fact]
    public void ResNet50Fp16HasOneInputCopy()
    {
        var graph = Optimizer.Optimize(OnnxImporter.Load(TorchvisionExports.Get("resnet50")));
        var program = GpuLowering.Lower(graph, fp16: true);
        var copies = program.Layers.Where(l => l.Kind == LayerKind.Copy).ToList();
        output.WriteLine($"resnet50 fp16 copies: {string.Join(", ", copies.Select(c => c.Name))}");
        Assert.Single(copies, c => c.Inputs.Contains(program.Inputs[0].TensorId));
        Assert.Equal(2, copies.Count);  // the input's conversion and the logits' way back to fp32
    }

    /// <summary>
    /// A patch stem in fp16 (PatchifyConvAsMatMul): the patch layout copy and the fp16 conversion of the patch rows (a
    /// reshaping alias of it) are one copy from the engine input, which the patch GEMM reads.
    /// </summary>
    [Fact]
    public void PatchRowsAreCutAndConvertedInOneCopy()
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(2), Dim.Of(8), Dim.Of(12)]);
        var y = b.Op("Conv", [x, b.Init("w", [16, 2, 4, 4]), b.Init("b", [16])],
            n => n.Set("strides", new long[] { 4, 4 }).Set("kernel_shape", new long[] { 4, 4 }));
        var (program, err) = LowerAndRun(b.Build(b.Op("Relu", y)), fp16: true, [2, 2, 8, 12]);
        var gemm = Assert.Single(program.Layers, l => l.Kind == LayerKind.Gemm);
        var feed = program.Layers.Single(l => l.Outputs.Any(o => program.Root(o) == program.Root(gemm.Inputs[0])));
        Assert.Equal(LayerKind.Copy, feed.Kind);
        Assert.Equal(program.Inputs[0].TensorId, program.Root(Assert.Single(feed.Inputs)));  // the input seen as patches
        Assert.Equal(NativeDType.Float16, program.Tensors[feed.Outputs[0]].DType);
        Assert.Equal(6, program.Tensors[feed.Outputs[0]].Shape.Length);
        Assert.True(err <= 1e-2, $"rel L2 {err:E3}");
    }

    /// <summary>
    /// A slice from index 0 behind a layout copy seen through a reshape is a plain, in-order copy too (start 0, step 1)
    /// but of fewer elements: it is not merged into the layout copy, which would write the whole reshaped extent into
    /// the slice's smaller buffer.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void APrefixSliceThroughAReshapeIsNotMerged(bool fp16)
    {
        var b = new TrtNative.Tests.Passes.GraphBuilder();
        var x = b.Input("x", [Dim.Sym("batch"), Dim.Of(3), Dim.Of(4)]);
        var t = b.Op("Transpose", [x], n => n.Set("perm", new long[] { 0, 2, 1 }));
        var flat = b.Op("Reshape", t, b.Ints("flat", 0, 12));
        var y = b.Op("Slice", flat, b.Ints("starts", 0), b.Ints("ends", 5), b.Ints("axes", 1));
        var (program, err) = LowerAndRun(b.Build(y), fp16, [2, 3, 4]);
        Assert.True(err <= (fp16 ? 1e-3 : 0), $"rel L2 {err:E3}");
        var output = program.Outputs.Single();
        var writer = program.Layers.Single(l => l.Outputs.Any(o => program.Root(o) == program.Root(output.TensorId)));
        Assert.Equal(2, program.Tensors[writer.Outputs[0]].Shape.Length);
    }
}
