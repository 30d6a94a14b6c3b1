using System.Diagnostics;
using System.Reflection;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests;

/// <summary>
/// The Sample's command line, run as a process: help for every command, usage errors (exit code 2) and failures
/// (exit code 1) as one message without a stack trace, and the command lines the scripts and docs use still parse.
/// </summary>
public class SampleCliTests
{
    private static readonly string Sample = typeof(SampleCliTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "SamplePath").Value!;

    private static string Digits => RepoRoot.Combine("demo", "digits", "digits.onnx");

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        Assert.True(File.Exists(Sample), $"the Sample is not built at {Sample}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Sample);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    private static void NoStackTrace(string text) => Assert.DoesNotMatch(@"\n\s+at \S+\(", text);

    [Theory]
    [InlineData("inspect", "MODEL.onnx", "--engine")]
    [InlineData("conformance", "DIR", "--filter")]
    [InlineData("build", "PLAN|MODEL.onnx", "--fp16", "--fp32", "--bf16", "--profile", "--workspace", "--optimization-level", "--no-precision-protection", "--calibration", "--timing-cache", "-o, --output")]
    [InlineData("run", "PLAN|MODEL.onnx", "--fp16", "--fp32", "--profile", "--batch", "--seed")]
    [InlineData("bench", "PLAN|MODEL.onnx", "--fp16", "--fp32", "--profile", "--batch", "--warmup", "--iters", "--no-graph", "--layers")]
    [InlineData("check", "PLAN|MODEL.onnx", "--fp16", "--fp32", "--profile", "--batch", "--seed", "--sets")]
    [InlineData("loadgen", "--service", "--url", "--concurrency", "--duration", "--base64", "--json", "--engine-plan", "--reference-service")]
    [InlineData("decodebench", "--images", "--synthetic", "--batch", "--decoders", "--cpu-threads", "--size", "--duration", "--engine-plan", "--engine-batch")]
    public void EveryCommandHasHelpListingItsArgumentsAndOptions(string command, params string[] expected)
    {
        var (code, output, err) = Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        Assert.Contains($"TrtNative.Sample {command}", output);
        foreach (var e in expected) Assert.Contains(e, output);
    }

    [Fact]
    public void NoArgumentsOrHelpListsEveryCommand()
    {
        foreach (var args in new[] { Array.Empty<string>(), ["help"], ["--help"] })
        {
            var (code, output, _) = Run(args);
            Assert.Equal(0, code);
            foreach (var c in new[] { "inspect", "conformance", "build", "run", "bench" }) Assert.Contains(c, output);
        }
    }

    [Theory]
    [InlineData("Unrecognized command or argument 'frob'", "frob")]
    [InlineData("File does not exist", "inspect", "no-such-model.onnx")]
    [InlineData("--profile '1:8': expected MIN:OPT:MAX", "build", "@digits", "--profile", "1:8")]
    [InlineData("1 <= MIN <= OPT <= MAX", "build", "@digits", "--profile", "8:1:64")]
    [InlineData("give one of --fp16, --fp32", "run", "@digits", "--fp16", "--fp32")]
    [InlineData("--batch: 'x' is not a batch size", "bench", "@digits", "--batch", "1,x")]
    [InlineData("--batch: '0' is not a batch size (1 or more)", "run", "@digits", "--batch", "0")]
    [InlineData("--batch: no batch size given", "bench", "@digits", "--batch", ",")]
    [InlineData("--iters must be at least 1, got 0", "bench", "@digits", "--iters", "0")]
    [InlineData("--workspace must be at least 1", "build", "@digits", "--workspace", "0")]
    [InlineData("--optimization-level must be at most 5, got 6", "build", "@digits", "--optimization-level", "6")]
    [InlineData("--optimization-level must be at least 0, got -1", "bench", "@digits", "--optimization-level", "-1")]
    [InlineData("Required argument missing", "run")]
    [InlineData("give either MODEL.onnx or --engine PLAN", "inspect")]
    [InlineData("--calibration: directory '/no/such/calibration/dir' does not exist", "build", "@digits", "--calibration", "/no/such/calibration/dir")]
    [InlineData("give either MODEL.onnx or --engine PLAN", "inspect", "@digits", "--engine", "@digits")]
    [InlineData("--decoders: 'x' is not a count", "decodebench", "--decoders", "1,x")]
    [InlineData("--batch: '0' is neither a batch size (1 or more) nor a range", "decodebench", "--batch", "0")]
    [InlineData("--batch: '16-8' is neither a batch size (1 or more) nor a range A-B with 1 <= A <= B", "decodebench", "--batch", "16-8")]
    [InlineData("--batch: '4-x' is neither", "decodebench", "--batch", "4-x")]
    [InlineData("--batch: no batch size given", "decodebench", "--batch", ",")]
    [InlineData("--decoders: no count given", "decodebench", "--decoders", "")]
    [InlineData("--concurrency: '0' is not a concurrency level (1 or more)", "loadgen", "--service", "digits", "--concurrency", "1,0")]
    [InlineData("no image size given", "decodebench", "--synthetic", " ")]
    [InlineData("--workspace must be at most 1048576, got 17592186044417", "build", "@digits", "--workspace", "17592186044417")]
    [InlineData("'/tmp' is a directory, not a plan or an ONNX model", "build", "/tmp")]
    [InlineData("File does not exist: '/no/such.onnx'", "build", "/no/such.onnx")]
    [InlineData("--output '/proc/x/y.plan': cannot write in '/proc'", "build", "@digits", "-o", "/proc/x/y.plan")]
    [InlineData("--output '/tmp' is a directory", "build", "@digits", "-o", "/tmp")]
    [InlineData("is a file, not a folder", "build", "@digits", "--timing-cache", "@digits/t.cache")]
    [InlineData("--batch '4,8': this command runs one batch size (bench measures several)", "run", "@digits", "--batch", "4,8")]
    [InlineData("Cannot parse argument 'abc' for option '--workspace'", "build", "@digits", "--workspace", "abc")]
    [InlineData("'1e-9' is not a positive duration", "decodebench", "--duration", "1e-9")]
    [InlineData("'1e300' is not a duration", "loadgen", "--service", "digits", "--duration", "1e300")]
    [InlineData("'0' is not a positive duration", "loadgen", "--service", "digits", "--duration", "0")]
    [InlineData("--reference-service: no service name given", "loadgen", "--service", "digits", "--reference-service", " ")]
    [InlineData("'0s' is not a positive duration", "decodebench", "--duration", "0s")]
    [InlineData("'100000x100000': each side must be at most 16384", "decodebench", "--synthetic", "100000x100000")]
    public void WrongCommandLinesExitWithTwoAndSayWhatIsWrong(string message, params string[] args)
    {
        var (code, output, err) = Run(args.Select(a => a.Replace("@digits", Digits)).ToArray());
        Assert.Equal(2, code);
        Assert.Contains(message, err);
        Assert.Contains("--help", err);
        Assert.Equal("", output);
        NoStackTrace(err);
    }

    [Fact]
    public void FailureExitsWithOneAndOneLineWithoutStackTrace()
    {
        var (code, _, err) = Run("inspect", RepoRoot.Combine("README.md"));
        Assert.Equal(1, code);
        Assert.StartsWith("inspect: error (InvalidModel): ", err);
        Assert.Single(err.TrimEnd().Split('\n'));
        NoStackTrace(err);
    }

    /// <summary>The command line loadgen_bench.sh gives its accuracy run parses; with no server the run fails in one line.</summary>
    [Fact]
    public void LoadgenWithAReferenceServiceAndNoServerFailsInOneLine()
    {
        using var dir = new Runtime.TempDir();
        var (code, _, err) = Run("loadgen", "--url", "http://127.0.0.1:1", "--service", "testonnx", "--reference-service", "testonnx_cpu",
            "--concurrency", "1", "--max-requests", "8", "--duration", "1s", "--synthetic", "16x16", "--synthetic-count", "1", "--synthetic-dir", dir.Path);
        Assert.Equal(1, code);
        Assert.StartsWith("loadgen: ", err);
        Assert.Single(err.TrimEnd().Split('\n'));
        NoStackTrace(err);
    }

    [Fact]
    public void ConformanceOnAFolderWithoutNodeTestsFails()
    {
        using var dir = new Runtime.TempDir();
        var (code, output, err) = Run("conformance", dir.Path);
        Assert.Equal(1, code);
        Assert.Contains("0 passed, 0 failed, 0 skipped", output);
        Assert.Contains("no ONNX node test", err);
    }

    [Fact]
    public void AModelGivenAsAPlanIsNotCalledACorruptPlan()
    {
        var (code, _, err) = Run("inspect", "--engine", Digits);
        Assert.Equal(1, code);
        Assert.Contains("is not a TrtNative plan file (bad magic)", err);
        Assert.DoesNotContain("Delete it", err);
        NoStackTrace(err);
    }

    [Theory]
    [InlineData("build")]
    [InlineData("run")]
    [InlineData("bench")]
    [InlineData("check")]
    public void AModelsOwnProblemIsNamedBeforeTheGpuIsAskedFor(string command)
    {
        // Read before the GPU check, so this holds on CI's machine without a GPU as on the GPU machine.
        using var dir = new Runtime.TempDir();
        string garbage = dir.File("garbage.onnx");
        File.WriteAllBytes(garbage, [0x08, 0xff, 0xff, 0x12, 0x34]);
        var (code, _, err) = Run(command, garbage);
        Assert.Equal(1, code);
        Assert.StartsWith($"{command}: error (InvalidModel): ", err);
        Assert.DoesNotContain("no usable GPU", err);

        string noInputs = dir.File("constant.onnx");
        var model = new global::Onnx.ModelProto
        {
            IrVersion = 8,
            OpsetImport = { new global::Onnx.OperatorSetIdProto { Version = 17 } },
            Graph = new global::Onnx.GraphProto
            {
                Name = "constant",
                Node =
                {
                    new global::Onnx.NodeProto
                    {
                        OpType = "Constant", Output = { "y" },
                        Attribute = { new global::Onnx.AttributeProto { Name = "value", Type = global::Onnx.AttributeProto.Types.AttributeType.Tensor,
                            T = new global::Onnx.TensorProto { DataType = 1, Dims = { 1 }, FloatData = { 1f } } } },
                    },
                },
                Output = { new global::Onnx.ValueInfoProto { Name = "y", Type = new global::Onnx.TypeProto { TensorType = new global::Onnx.TypeProto.Types.Tensor
                    { ElemType = 1, Shape = new global::Onnx.TensorShapeProto { Dim = { new global::Onnx.TensorShapeProto.Types.Dimension { DimValue = 1 } } } } } } },
            },
        };
        File.WriteAllBytes(noInputs, Google.Protobuf.MessageExtensions.ToByteArray(model));
        (code, _, err) = Run(command, noInputs);
        Assert.Equal(1, code);
        Assert.Contains("has no graph inputs", err);
        NoStackTrace(err);
    }

    /// <summary>decodebench's CPU half runs anywhere: SkiaSharp decodes and resizes the synthetic JPEGs on a thread.</summary>
    [Fact]
    public void DecodeBenchMeasuresTheCpuPathWithoutAGpu()
    {
        var (code, output, err) = Run("decodebench", "--synthetic", "96x64", "--synthetic-count", "2", "--decoders", "0", "--cpu-threads", "1",
            "--size", "32", "--duration", "200ms", "--batch", "8,2-4");
        Assert.True(code == 0, err);
        var line = Assert.Single(output.Split('\n'), l => l.StartsWith("DECODE cpu "));
        Assert.Contains("size=96x64 files=2 threads=1", line);
        double rate = double.Parse(line.Split("images_per_s=")[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(rate > 0, line);
    }

    [Fact]
    public void CalibrationFolderWithoutImagesIsAUsageError()
    {
        using var dir = new Runtime.TempDir();
        File.WriteAllText(dir.File("notes.txt"), "not an image");
        var (code, output, err) = Run("build", Digits, "--calibration", dir.Path);
        Assert.Equal(2, code);
        Assert.Contains("holds no image", err);
        Assert.Equal("", output);
    }

    [Fact]
    public void InspectEnginePrintsTheNodesKeptInFp32WithoutAGpu()
    {
        using var dir = new Runtime.TempDir();
        string plan = dir.File("overflow.fp16.plan");
        var g = TrtNative.Passes.Optimizer.Optimize(Models.OverflowNet.Build(1));
        var program = TrtNative.Compiler.GpuLowering.Lower(g, new TrtNative.Compiler.LoweringOptions
        {
            Fp16 = true,
            KeepFp32 = new Dictionary<string, string> { [Models.OverflowNet.BigConv] = "fp32 output 'c2' reaches 1.50E+005" },
        });
        using (var ms = new MemoryStream())
        {
            using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                program.Write(w);
                w.Write(0); // no profile
            }
            TrtNative.Runtime.PlanFile.Write(plan, new TrtNative.Runtime.PlanHeader
            {
                GpuName = "NVIDIA H200", ComputeCapability = new TrtNative.Cuda.ComputeCapability(9, 0), CudaDriverVersion = 13000,
                CudnnVersion = 91900, CublasLtVersion = 130100, ModelHash = new string('a', 64),
                Settings = new TrtNative.Runtime.BuildSettings(TrtNative.Runtime.Precision.Fp16, 1 << 20, true),
            }, ms.ToArray());
        }
        var (code, output, err) = Run("inspect", "--engine", plan);
        Assert.True(code == 0, err);
        Assert.Contains("NVIDIA H200", output);
        Assert.Contains("protection=True", output);
        Assert.Contains("precision protection on: 1 node(s) kept in fp32", output);
        Assert.Contains("kept in fp32: conv_big (Conv): fp32 output 'c2' reaches 1.50E+005", output);
        Assert.Contains("logits: float [batch,10]", output);
    }

    [Fact]
    public void InspectPrintsTheModelsSignature()
    {
        var (code, output, err) = Run("inspect", Digits);
        Assert.True(code == 0, err);
        Assert.Contains("data: float32 [batch,1,8,8]", output);
        Assert.Contains("prob: float32 [batch,10]", output);
    }

    [Fact]
    public void CheckRefusesAPlanItCannotRunInOnnxRuntime()
    {
        string plan = Path.Combine(Directory.CreateTempSubdirectory("trtn-sample-check-").FullName, "digits.fp16.plan");
        File.WriteAllBytes(plan, [1, 2, 3]);
        try
        {
            var (code, _, err) = Run("check", plan);
            Assert.Equal(2, code);
            Assert.Contains("not an ONNX model", err);
            NoStackTrace(err);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(plan)!, recursive: true);
        }
    }

    [Fact]
    public void CommandLinesOfTheScriptsAndDocsStillParse()
    {
        string dir = Directory.CreateTempSubdirectory("trtn-sample-cli-").FullName;
        try
        {
            string[][] lines =
            [
                ["bench", Digits, "--fp16", "--profile", "1:32:32", "--batch", "1,32", "--iters", "100", "--warmup", "20"], // scripts/gpu-bench.sh
                ["bench", Digits, "--batch", "1,32", "--layers", "--no-graph"],
                ["build", Digits, "--fp32", "--profile", "1:8:64", "--workspace", "64", "--timing-cache", Path.Combine(dir, "tc.json"), "-o", Path.Combine(dir, "d.plan")],
                ["build", Digits, "--output", Path.Combine(dir, "d2.plan")],
                ["run", Digits, "--batch", "4", "--seed", "3", "--fp32"],
                ["check", Digits, "--fp16", "--batch", "8", "--sets", "2", "--seed", "1"],
            ];
            foreach (var line in lines)
            {
                var (code, _, err) = Run(line);
                // Without a GPU the work fails (1, "no usable GPU"); with one it succeeds. Never a usage error.
                Assert.True(code is 0 or 1, $"{string.Join(" ", line)}: exit {code}: {err}");
                Assert.DoesNotContain("--help", err);
                if (code == 1) Assert.Contains("no usable GPU", err);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
