using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using TrtNative.Interop;
using TrtNative.Tests.Support;
using Xunit;

namespace TrtNative.Tests.Interop;

/// <summary>
/// Every struct of native/include/trtnative.h against its C# mirror, field by field: the header's struct definitions
/// are read, a C program that includes the header prints sizeof and offsetof of each field (compiled with the first C
/// compiler found), and every number is compared with <see cref="Marshal.OffsetOf(Type, string)"/> /
/// <see cref="Marshal.SizeOf(Type)"/> of the mirror; compiled as C, it also prints each field's scalar type (C11
/// _Generic), so an int32 mirrored as a float fails too. C names map to C# names by one rule (snake_case → PascalCase);
/// a field on one side only fails the test.
/// </summary>
public class StructLayoutTests
{
    /// <summary>C structs whose mirror is not named by the rule (trtn_ stripped, snake_case → PascalCase).</summary>
    private static readonly Dictionary<string, Type> Renamed = new()
    {
        ["trtn_activation"] = typeof(NativeActivation),
        ["trtn_layernorm_params"] = typeof(LayerNormParams),
    };

    internal static string Pascal(string snake) =>
        string.Concat(snake.Split('_', StringSplitOptions.RemoveEmptyEntries).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));

    private static Type Mirror(string cStruct)
    {
        if (Renamed.TryGetValue(cStruct, out var t)) return t;
        string name = "TrtNative.Interop." + Pascal(cStruct["trtn_".Length..]);
        return typeof(NativeActivation).Assembly.GetType(name)
            ?? throw new Xunit.Sdk.XunitException($"{cStruct} has no C# mirror {name} (add one in Interop/NativeStructs.cs, or a row in {nameof(Renamed)})");
    }

    internal sealed record CStruct(string Name, List<string> Fields);

    /// <summary>The structs defined in the header (typedef struct x { ... } x;), each with its field names in order.</summary>
    internal static List<CStruct> ParseHeader(string header)
    {
        header = Regex.Replace(header, @"/\*.*?\*/", " ", RegexOptions.Singleline);
        var result = new List<CStruct>();
        foreach (Match m in Regex.Matches(header, @"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", RegexOptions.Singleline))
        {
            Assert.Equal(m.Groups[1].Value, m.Groups[3].Value);
            var fields = new List<string>();
            foreach (var decl in m.Groups[2].Value.Split(';').Select(s => s.Trim()).Where(s => s.Length > 0))
            {
                var dm = Regex.Match(decl, @"^(?:const\s+)?\w+\s+(.+)$", RegexOptions.Singleline);
                Assert.True(dm.Success, $"cannot read the declaration '{decl}' in {m.Groups[1].Value}");
                foreach (var d in dm.Groups[1].Value.Split(','))
                {
                    var nm = Regex.Match(d.Trim(), @"^(\w+)\s*(\[\s*\w+\s*\])?$");
                    Assert.True(nm.Success, $"cannot read the declarator '{d.Trim()}' in {m.Groups[1].Value}");
                    fields.Add(nm.Groups[1].Value);
                }
            }
            result.Add(new CStruct(m.Groups[1].Value, fields));
        }
        return result;
    }

    [Fact]
    public void ParserReadsEveryDeclaratorOfAStruct()
    {
        var s = ParseHeader("/* x */ typedef struct trtn_x { int32_t a_b, c; /* d */ int64_t e[TRTN_MAX_DIMS]; trtn_activation act; } trtn_x;");
        var x = Assert.Single(s);
        Assert.Equal("trtn_x", x.Name);
        Assert.Equal(["a_b", "c", "e", "act"], x.Fields);
        Assert.Equal("CcMajor", Pascal("cc_major"));
        Assert.Equal("HAxis", Pascal("h_axis"));
    }

    [CCompilerFact]
    public void EveryHeaderStructMatchesItsMirrorFieldByField()
    {
        string header = RepoRoot.Combine("native", "include", "trtnative.h");
        var structs = ParseHeader(File.ReadAllText(header));
        // The parameter structs of every layer kind and the info structs must all be there.
        Assert.True(structs.Count >= 19, $"only {structs.Count} structs read from {header}");
        foreach (var kind in Enum.GetValues<LayerKind>())
            Assert.Contains(structs, s => Mirror(s.Name) == TrtNative.Compiler.LayerKinds.Of(kind).ParamsType);

        var native = CompileAndRun(header, structs);
        var errors = new List<string>();
        foreach (var s in structs)
        {
            var type = Mirror(s.Name);
            int size = Marshal.SizeOf(type);
            if (native[(s.Name, "")].Size != size) errors.Add($"{s.Name}: sizeof {native[(s.Name, "")].Size}, {type.Name} {size}");
            var csFields = type.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance).Select(f => f.Name).ToList();
            var expected = s.Fields.Select(Pascal).ToList();
            foreach (var missing in expected.Except(csFields)) errors.Add($"{s.Name}: field {missing} is not in {type.Name}");
            foreach (var extra in csFields.Except(expected)) errors.Add($"{s.Name}: {type.Name}.{extra} is not in the header");
            if (!expected.Except(csFields).Any() && !csFields.Except(expected).Any() && !expected.SequenceEqual(csFields))
                errors.Add($"{s.Name}: fields in another order ({string.Join(", ", csFields)})");
            foreach (var f in s.Fields)
            {
                var field = type.GetField(Pascal(f), BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance);
                if (field is null) continue;
                var (offset, fieldSize, kind) = native[(s.Name, f)];
                int csOffset = (int)Marshal.OffsetOf(type, field.Name), csSize = Marshal.SizeOf(field.FieldType);
                if (offset != csOffset) errors.Add($"{s.Name}.{f}: offset {offset}, {type.Name}.{field.Name} {csOffset}");
                if (fieldSize != csSize) errors.Add($"{s.Name}.{f}: size {fieldSize}, {type.Name}.{field.Name} {csSize}");
                if (kind != "?" && kind != Kind(field)) errors.Add($"{s.Name}.{f}: type {kind}, {type.Name}.{field.Name} {Kind(field)} (i int32, l int64, u uint64, f float, c char, * array, s struct)");
            }
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        // The program really printed every field (and the numbers are not all zero).
        Assert.Equal(structs.Sum(s => s.Fields.Count + 1), native.Count);
        Assert.Equal(Marshal.SizeOf<ConvParams>(), native[("trtn_conv_params", "")].Size);
        Assert.True(native[("trtn_conv_params", "tactic")].Offset > 0);
        if (native[("trtn_conv_params", "tactic")].Kind != "?")
        {
            Assert.Equal("f", native[("trtn_gemm_params", "alpha")].Kind);
            Assert.Equal("l*", native[("trtn_copy_params", "start")].Kind);
            Assert.Equal("s", native[("trtn_conv_params", "act")].Kind);
        }
    }

    /// <summary>The C kind letter of a mirror field's type, as KIND in the C program prints it.</summary>
    private static string Kind(FieldInfo f)
    {
        var fixedBuffer = f.GetCustomAttribute<FixedBufferAttribute>();
        var t = fixedBuffer?.ElementType ?? f.FieldType;
        string k = t == typeof(int) ? "i" : t == typeof(long) ? "l" : t == typeof(ulong) ? "u" : t == typeof(float) ? "f"
            : t == typeof(byte) || t == typeof(sbyte) ? "c" : t.IsValueType && !t.IsPrimitive ? "s" : "?" + t.Name;
        return fixedBuffer is null ? k : k + "*";
    }

    private static Dictionary<(string Struct, string Field), (int Offset, int Size, string Kind)> CompileAndRun(string header, List<CStruct> structs)
    {
        var c = new StringBuilder();
        c.AppendLine("#include <stdio.h>\n#include <stddef.h>\n#include \"trtnative.h\"");
        // The field's scalar type (arrays decay to pointers, nested structs are "s"); "?" where _Generic is missing (C++).
        c.AppendLine("""
            #ifndef __cplusplus
            #define KIND(e) _Generic((e), int32_t: "i", int64_t: "l", uint64_t: "u", float: "f", char: "c", \
                int32_t*: "i*", int64_t*: "l*", uint64_t*: "u*", float*: "f*", char*: "c*", default: "s")
            #else
            #define KIND(e) "?"
            #endif
            int main(void) {
            """);
        foreach (var s in structs)
        {
            c.AppendLine($"    printf(\"{s.Name} . 0 %zu s\\n\", sizeof({s.Name}));");
            foreach (var f in s.Fields)
                c.AppendLine($"    printf(\"{s.Name} {f} %zu %zu %s\\n\", offsetof({s.Name}, {f}), sizeof((({s.Name}*)0)->{f}), KIND((({s.Name}*)0)->{f}));");
        }
        c.AppendLine("    return 0;\n}");
        string dir = Directory.CreateTempSubdirectory("trtn-layout-").FullName;
        try
        {
            string src = Path.Combine(dir, "layout.c"), exe = Path.Combine(dir, "layout");
            File.WriteAllText(src, c.ToString());
            string compiler = CCompilerFactAttribute.Compiler!;
            Run(compiler, ["-I", Path.GetDirectoryName(header)!, "-o", exe, src], out _);
            Run(exe, [], out string output);
            var result = new Dictionary<(string, string), (int, int, string)>();
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var p = line.Split(' ');
                result[(p[0], p[1] == "." ? "" : p[1])] = (int.Parse(p[2]), int.Parse(p[3]), p.Length > 4 ? p[4] : "");
            }
            return result;
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private static void Run(string file, string[] args, out string stdout)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(" ", args)} failed ({p.ExitCode}):\n{stdout}{err.Result}");
    }
}

/// <summary>A fact that needs a C compiler on PATH; skipped, saying so, where there is none (CI has g++).</summary>
public sealed class CCompilerFactAttribute : FactAttribute
{
    /// <summary>The first of $CC, gcc, cc, clang, g++ found on PATH, or null.</summary>
    public static readonly string? Compiler = Find();

    public CCompilerFactAttribute([CallerFilePath] string? sourceFilePath = null, [CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
    {
        if (Compiler is null) Skip = "no C compiler found ($CC, gcc, cc, clang or g++ on PATH): the header's layouts cannot be measured";
    }

    private static string? Find()
    {
        var names = new[] { Environment.GetEnvironmentVariable("CC"), "gcc", "cc", "clang", "g++" }.Where(n => !string.IsNullOrEmpty(n));
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        foreach (var n in names)
        {
            if (Path.IsPathRooted(n!) && File.Exists(n)) return n;
            foreach (var dir in path)
                if (File.Exists(Path.Combine(dir, n!))) return Path.Combine(dir, n!);
        }
        return null;
    }
}
