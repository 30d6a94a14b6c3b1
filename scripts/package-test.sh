#!/usr/bin/env bash
# Proves the NuGet packages work for someone outside this repository: in a fresh temporary folder, a new console
# project adds TrtNative from the local feed (out/packages, made by `./build.sh pack`; TrtNative.Runtime.linux-x64
# comes with it as a dependency), builds, and runs the CPU-side API: load an ONNX model, list its inputs and outputs,
# ask for the GPU. It passes when the model is read, libtrtnative is found in the package's runtimes/linux-x64/native
# layout (both `dotnet run` and a linux-x64 publish), and the GPU question gets a clear answer (a GPU, or why not).
#   scripts/package-test.sh [PACKAGES_DIR] [MODEL.onnx]     (defaults: out/packages, demo/digits/digits.onnx)
# Packages are restored into a private folder, so a stale TrtNative in ~/.nuget/packages can never be tested;
# third-party packages come from ~/.nuget/packages when present, else from nuget.org.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
feed="$(cd "${1:-$root/out/packages}" && pwd)"
model="$(realpath "${2:-$root/demo/digits/digits.onnx}")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

version="$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$root/Directory.Build.props" | head -1)"
for id in TrtNative TrtNative.Runtime.linux-x64; do
  [ -f "$feed/$id.$version.nupkg" ] || { echo "package-test: $feed/$id.$version.nupkg is missing (run ./build.sh pack)" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/trtn-package-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export NUGET_PACKAGES="$work/nuget"
fallback=""
[ -d "$HOME/.nuget/packages" ] && fallback="<fallbackPackageFolders><add key=\"user\" value=\"$HOME/.nuget/packages\" /></fallbackPackageFolders>"
cat >"$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="local"><package pattern="TrtNative" /><package pattern="TrtNative.*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
  $fallback
</configuration>
XML

cd "$work"
echo "== new console project in $work"
dotnet new console -o app -n PackageTest --framework net10.0 >/dev/null
cd app
echo "== dotnet add package TrtNative --version $version (feed $feed)"
dotnet add package TrtNative --version "$version" >/dev/null
[ -d "$NUGET_PACKAGES/trtnative.runtime.linux-x64/$version" ] ||
  { echo "package-test: TrtNative.Runtime.linux-x64 was not restored as TrtNative's dependency" >&2; exit 1; }

cat >Program.cs <<'CS'
using TrtNative;
using TrtNative.Cuda;
using TrtNative.Ir;
using TrtNative.Onnx;
using TrtNative.Runtime;

// Load and inspect a model (CPU only), then ask for the GPU.
var graph = OnnxImporter.Load(args[0]);
ShapeInference.Run(graph);
Console.WriteLine($"model {graph.Name}: {graph.Nodes.Count} nodes");
foreach (var i in graph.Inputs) Console.WriteLine($"input  {i.Name}: {i.Type.OnnxName()} {i.Shape.Format()}");
foreach (var o in graph.Outputs) Console.WriteLine($"output {o.Name}: {(graph.Values.GetValueOrDefault(o.Name) ?? o).Shape.Format()}");
if (graph.Inputs.Count == 0 || graph.Outputs.Count == 0) return 3;

Console.WriteLine(CudaPlatform.IsAvailable(out string why) ? "cuda driver: available" : $"cuda driver: none ({why})");
try
{
    Console.WriteLine($"gpu: {GpuInfo.Query()}");
    if (graph.Inputs[0].Name == "data") ReadmeExample(args[0]);
}
catch (TrtNativeException e) when (e.Code == ErrorCode.NativeLibrary)
{
    Console.WriteLine($"native library: NOT LOADED: {e.Message}");
    return 4;
}
catch (TrtNativeException e)
{
    Console.WriteLine($"gpu: none ({e.Code}): {e.Message}");
}
return 0;

// README.md's engine example (digits model), compiled against the packages everywhere and run where there is a GPU.
static void ReadmeExample(string model)
{
    using var cuda = CudaContext.Create();                                  // GPU 0
    var config = new BuilderConfig { Precision = Precision.Fp16 };
    config.OptimizationProfiles.Add(new OptimizationProfile().Set("data", [1, 1, 8, 8], [8, 1, 8, 8], [32, 1, 8, 8]));
    using var engine = new Builder(cuda).BuildFromOnnx(model, config);
    using var context = engine.CreateContext();
    var prob = context.Run(new Dictionary<string, Tensor> { ["data"] = Tensor.FromFloats(new float[2 * 64], [2, 1, 8, 8]) })["prob"];
    Console.WriteLine($"[{string.Join(",", prob.Shape)}] {string.Join(" ", prob.Floats!.Take(10).Select(p => p.ToString("F3")))}");
}
CS

check() {  # $1: what ran, $2: its output file
  grep -q '^input  ' "$2" && grep -q '^output ' "$2" || { echo "package-test: $1 did not list the model's inputs and outputs" >&2; return 1; }
  grep -q '^gpu: ' "$2" || { echo "package-test: $1 gave no answer about the GPU" >&2; return 1; }
}

echo "== dotnet build"
dotnet build -c Release -v q -nologo >build.log 2>&1 || { cat build.log; exit 1; }
[ -f bin/Release/net10.0/runtimes/linux-x64/native/libtrtnative.so ] ||
  { echo "package-test: bin/Release/net10.0/runtimes/linux-x64/native/libtrtnative.so is missing" >&2; exit 1; }
echo "== dotnet run"
dotnet run -c Release --no-build -- "$model" | tee run.log
check "dotnet run" run.log

echo "== dotnet publish -r linux-x64 (native library beside the app)"
dotnet publish -c Release -r linux-x64 --self-contained false -o pub -v q -nologo >publish.log 2>&1 || { cat publish.log; exit 1; }
[ -f pub/libtrtnative.so ] || { echo "package-test: the linux-x64 publish has no libtrtnative.so" >&2; exit 1; }
./pub/PackageTest "$model" | tee pub.log
check "the published app" pub.log
echo "package-test: passed"
