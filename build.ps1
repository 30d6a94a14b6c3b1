# TrtNative build driver for Windows (PowerShell 7+); mirrors build.sh.
#   ./build.ps1 build            dotnet build the solution; configure+build native/ into build/native when cmake is
#                                present (without nvcc native/ builds its non-CUDA parts)
#   ./build.ps1 test [args]      dotnet test the solution, then print "N passed, N failed, N skipped"
#   ./build.ps1 run [args]       start the server (src/TrtNative.Server)
#   ./build.ps1 sample [args]    run the console sample (src/TrtNative.Sample)
#   ./build.ps1 bundle           self-contained linux-x64 GpuTests + Sample + native/ sources + scripts/ + ONNX node
#                                tests (TRTN_NODE_TESTS_SRC) into out/bundle.tar.xz (needs tar and xz), under 60 MiB
# Environment: CONFIG (Debug|Release), TRTN_CUDA_ARCH (default: native/'s list), TRTN_REQUIRE_NATIVE=1.
# Not tested on Windows yet: the CUDA bindings load libcuda.so.1, so GPU tests skip there.
param(
    [Parameter(Position = 0)][string]$Command = "help",
    [Parameter(Position = 1, ValueFromRemainingArguments = $true)][string[]]$Rest = @()
)
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$env:DOTNET_CLI_TELEMETRY_OPTOUT = "1"
$env:DOTNET_NOLOGO = "1"
$Config = if ($env:CONFIG) { $env:CONFIG } else { "Debug" }

function Invoke-Checked([string]$Exe, [string[]]$Arguments) {
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Build-Native {
    if (-not (Test-Path native/CMakeLists.txt)) { Write-Host "native: no native/CMakeLists.txt yet, nothing to build"; return }
    if (-not (Get-Command cmake -ErrorAction SilentlyContinue)) {
        if ($env:TRTN_REQUIRE_NATIVE -eq "1") { throw "native: cannot build: cmake not found" }
        Write-Host "native: skipped (cmake not found); GPU engine tests need the trtnative library"
        return
    }
    if (-not (Get-Command nvcc -ErrorAction SilentlyContinue) -and -not $env:CUDACXX) {
        Write-Host "native: no CUDA compiler found: building the non-CUDA parts only"
    }
    $cmakeArgs = @("-S", "native", "-B", "build/native", "-DCMAKE_BUILD_TYPE=Release")
    if ($env:TRTN_CUDA_ARCH) { $cmakeArgs += "-DCMAKE_CUDA_ARCHITECTURES=$($env:TRTN_CUDA_ARCH)" }
    Invoke-Checked cmake $cmakeArgs
    Invoke-Checked cmake @("--build", "build/native", "--config", "Release", "-j", "$([Environment]::ProcessorCount)")
}

function Invoke-Build {
    Invoke-Checked dotnet @("build", "TrtNative.sln", "-c", $Config)
    Build-Native
}

function Invoke-Test {
    $results = Join-Path $PSScriptRoot ("TestResults/run-" + (Get-Date -Format "yyyyMMdd-HHmmss") + "-$PID")
    New-Item -ItemType Directory -Force -Path $results | Out-Null
    & dotnet test TrtNative.sln -c $Config --logger trx --results-directory $results @Rest
    $rc = $LASTEXITCODE
    $passed = 0; $failed = 0; $skipped = 0; $files = 0
    foreach ($f in Get-ChildItem -Path $results -Filter *.trx -Recurse) {
        $files++
        [xml]$trx = Get-Content $f.FullName
        $c = $trx.TestRun.ResultSummary.Counters
        $passed += [int]$c.passed
        $failed += [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted
        # VSTest's TRX counts a skipped test in neither passed nor failed: it is total - executed.
        $skipped += [int]$c.total - [int]$c.executed
    }
    Write-Host ""
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    if ($files -eq 0) { Write-Error "no test results were written (build failure?)"; exit 1 }
    if ($failed -gt 0 -or $rc -ne 0) { exit 1 }
}

function Invoke-Bundle {
    $out = Join-Path $PSScriptRoot "out"
    $stage = Join-Path $out "bundle"
    Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $stage, (Join-Path $out "bundle.tar.xz")
    New-Item -ItemType Directory -Force -Path (Join-Path $stage "bin"), (Join-Path $stage "scripts") | Out-Null
    foreach ($p in @("tests/TrtNative.GpuTests", "src/TrtNative.Sample")) {
        Invoke-Checked dotnet @("publish", $p, "-c", "Release", "-r", "linux-x64", "--self-contained", "true",
            "-o", (Join-Path $stage "bin"), "-p:GenerateDocumentationFile=false", "-p:SatelliteResourceLanguages=en")
    }
    if (Test-Path native) { Copy-Item -Recurse native (Join-Path $stage "native") }
    if (Test-Path cmake) { Copy-Item -Recurse cmake (Join-Path $stage "cmake") }
    Copy-Item scripts/*.sh (Join-Path $stage "scripts")
    if (Test-Path scripts/*.py) { Copy-Item scripts/*.py (Join-Path $stage "scripts") }
    $nodes = if ($env:TRTN_NODE_TESTS_SRC) { $env:TRTN_NODE_TESTS_SRC } else { "/usr/share/libonnx-testdata/data/node" }
    if (Test-Path $nodes) { Copy-Item -Recurse $nodes (Join-Path $stage "node-tests") }
    # Windows can't set the Unix execute bit; gpu-test.sh is run with bash and marks the executables itself if needed.
    Push-Location $out
    try {
        Invoke-Checked tar @("-cf", "bundle.tar", "bundle")
        Invoke-Checked xz @("-6", "-T0", "-f", "bundle.tar")
    } finally { Pop-Location }
    $size = (Get-Item (Join-Path $out "bundle.tar.xz")).Length
    Write-Host ("out/bundle.tar.xz: {0} bytes ({1:N1} MiB, limit 60 MiB)" -f $size, ($size / 1MB))
    if ($size -ge 60MB) { throw "bundle is over 60 MiB" }
}

switch ($Command) {
    "build" { Invoke-Build }
    "bundle" { Invoke-Bundle }
    "test" { Invoke-Test }
    "run" { Invoke-Checked dotnet (@("run", "--project", "src/TrtNative.Server", "-c", $Config, "--") + $Rest) }
    "sample" { Invoke-Checked dotnet (@("run", "--project", "src/TrtNative.Sample", "-c", $Config, "--") + $Rest) }
    default { Get-Content $PSCommandPath | Select-Object -Skip 1 | Where-Object { $_ -like '#*' } | ForEach-Object { $_ -replace '^# ?', '' } }
}
