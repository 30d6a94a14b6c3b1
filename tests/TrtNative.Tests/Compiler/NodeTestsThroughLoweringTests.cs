using TrtNative.Compiler;
using TrtNative.Conformance;
using TrtNative.Ir;
using TrtNative.Passes;
using Xunit;

namespace TrtNative.Tests.Compiler;

/// <summary>
/// ONNX node tests (Debian's libonnx-testdata) through optimize → GPU lowering → <see cref="ProgramInterpreter"/>:
/// the lowering must reproduce the stored outputs for every test whose graph it supports.
/// </summary>
public class NodeTestsThroughLoweringTests(ITestOutputHelper output)
{
    private const string Root = "/usr/share/libonnx-testdata/data/node";

    private static readonly string[] Prefixes =
    [
        "test_conv", "test_gemm", "test_matmul", "test_maxpool", "test_averagepool", "test_globalaveragepool", "test_globalmaxpool",
        "test_softmax", "test_logsoftmax", "test_relu", "test_sigmoid", "test_add", "test_mul", "test_sub", "test_div",
        "test_layer_normalization", "test_reduce_mean", "test_reduce_sum", "test_reduce_max", "test_transpose", "test_concat",
        "test_reshape", "test_flatten", "test_gather_", "test_slice", "test_split", "test_expand", "test_clip", "test_leakyrelu",
        "test_tanh", "test_elu", "test_hardsigmoid", "test_hardswish", "test_batchnorm", "test_erf", "test_sqrt", "test_exp",
        "test_pow", "test_abs", "test_neg", "test_prelu", "test_squeeze", "test_unsqueeze", "test_gelu",
    ];

    [Fact]
    public void LoweredNodeTestsReproduceStoredOutputs()
    {
        Assert.True(Directory.Exists(Root), $"{Root} is missing: apt-get install libonnx-testdata");
        var options = new NodeTestOptions
        {
            Executor = (graph, inputs) =>
            {
                var program = GpuLowering.Lower(Optimizer.Optimize(graph), fp16: false);
                try { return new ProgramInterpreter(program).Run(inputs); }
                catch (NotSupportedException e) { throw new TrtNativeException(ErrorCode.Unsupported, "interpreter: " + e.Message); }
            },
        };
        var dirs = Directory.GetDirectories(Root).Where(d => Prefixes.Any(p => Path.GetFileName(d).StartsWith(p, StringComparison.Ordinal))).Order().ToList();
        var results = dirs.Select(d => NodeTestRunner.Run(d, options)).ToList();
        var passed = results.Count(r => r.Outcome == NodeTestOutcome.Passed);
        var failed = results.Where(r => r.Outcome == NodeTestOutcome.Failed && r.Error != ErrorCode.Unsupported).ToList();
        var unsupported = results.Where(r => r.Outcome == NodeTestOutcome.Skipped || r.Error == ErrorCode.Unsupported).ToList();
        foreach (var r in unsupported) output.WriteLine($"unsupported {r.Name}: {r.Reason}");
        foreach (var r in failed) output.WriteLine($"FAILED {r.Name}: {r.Reason}");
        output.WriteLine($"{passed} passed, {failed.Count} failed, {unsupported.Count} unsupported of {results.Count}");
        Assert.True(passed >= 100, $"only {passed} node tests passed");
        Assert.Empty(failed.Select(f => $"{f.Name}: {f.Reason}"));
    }
}
