using System.Diagnostics;
using TrtNative.Ir;
using TrtNative.Ops;
using Xunit;
using static TrtNative.Tests.Ops.MathOpTestUtil;

namespace TrtNative.Tests.Ops;

public class MatrixOpsTests(ITestOutputHelper output)
{
    private static float[] NaiveMatMul(float[] a, float[] b, int m, int n, int k)
    {
        var c = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int q = 0; q < k; q++) s += (double)a[i * k + q] * b[q * n + j];
                c[i * n + j] = (float)s;
            }
        return c;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(7, 5, 3)]
    [InlineData(6, 16, 256)]
    [InlineData(13, 37, 300)]
    [InlineData(197, 64, 197)]
    [InlineData(64, 600, 519)]
    [InlineData(1, 1000, 2048)]
    public void SgemmMatchesNaiveProduct(int m, int n, int k)
    {
        var rng = new Random(m * 1000 + n + k);
        var a = Random(rng, m * k);
        var b = Random(rng, k * n);
        var c = new float[m * n];
        Sgemm.Multiply(m, n, k, a, k, b, n, c, n, accumulate: false);
        var want = NaiveMatMul(a, b, m, n, k);
        Assert.True(RelL2(want, c) < 2e-6, $"relative L2 {RelL2(want, c)}");
        // Accumulate mode adds onto what is there.
        Sgemm.Multiply(m, n, k, a, k, b, n, c, n, accumulate: true);
        Assert.True(RelL2(want.Select(v => 2 * v).ToArray(), c) < 2e-6, $"accumulate: relative L2 {RelL2(want.Select(v => 2 * v).ToArray(), c)}");
    }

    [Fact]
    public void GemmAttributesAndBiasBroadcast()
    {
        // A = [[1,2],[3,4],[5,6]] given transposed; B = [[1,0,2],[0,1,3]] given transposed.
        var a = F([1, 3, 5, 2, 4, 6], 2, 3);
        var b = F([1, 0, 0, 1, 2, 3], 3, 2);
        var n = Node("Gemm", 3).Set("transA", 1L).Set("transB", 1L).Set("alpha", 2f).Set("beta", 0.5f);
        var y = Run(n, 13, [a, b, F([10, 20, 30], 3)])[0];
        // A·B = [[1,2,8],[3,4,18],[5,6,28]]
        Assert.Equal(new long[] { 3, 3 }, y.Shape);
        Assert.Equal(new float[] { 7, 14, 31, 11, 18, 51, 15, 22, 71 }, y.Floats);
        var noC = Run(Node("Gemm", 2), 13, [F([1, 2, 3, 4], 2, 2), F([1, 1, 1, 1], 2, 2)])[0];
        Assert.Equal(new float[] { 3, 3, 7, 7 }, noC.Floats);
        var scalarC = Run(Node("Gemm", 3), 13, [F([1, 2, 3, 4], 2, 2), F([1, 1, 1, 1], 2, 2), F([1], [])])[0];
        Assert.Equal(new float[] { 4, 4, 8, 8 }, scalarC.Floats);
        var e = Assert.Throws<TrtNativeException>(() => Run(Node("Gemm", 2), 13, [F(new float[6], 2, 3), F(new float[6], 2, 3)]));
        Assert.Contains("inner dimensions", e.Message);
    }

    [Fact]
    public void MatMulPromotesVectorsAndBroadcastsBatches()
    {
        var v = F([1, 2], 2);
        var m = F([1, 2, 3, 4, 5, 6], 2, 3);
        var vm = Run(Node("MatMul", 2), 13, [v, m])[0];
        Assert.Equal(new long[] { 3 }, vm.Shape);
        Assert.Equal(new float[] { 9, 12, 15 }, vm.Floats);
        var mv = Run(Node("MatMul", 2), 13, [m, F([1, 0, -1], 3)])[0];
        Assert.Equal(new long[] { 2 }, mv.Shape);
        Assert.Equal(new float[] { -2, -2 }, mv.Floats);

        var rng = new Random(3);
        var a = Random(rng, 2 * 1 * 4 * 5);
        var b = Random(rng, 3 * 5 * 6);
        var y = Run(Node("MatMul", 2), 13, [F(a, 2, 1, 4, 5), F(b, 3, 5, 6)])[0];
        Assert.Equal(new long[] { 2, 3, 4, 6 }, y.Shape);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
            {
                var want = NaiveMatMul(a[(i * 20)..(i * 20 + 20)], b[(j * 30)..(j * 30 + 30)], 4, 6, 5);
                Close(want, y.Floats![((i * 3 + j) * 24)..((i * 3 + j) * 24 + 24)]);
            }
    }

    [Fact]
    public void MatMulShapeWithSymbolicBatch()
    {
        var n = Dim.Sym("batch");
        var info = Infer(Node("MatMul", 2), 13, [(DataType.Float16, [n, Dim.Of(197), Dim.Of(768)]), (DataType.Float16, Shapes.Of(768, 3072))]);
        Assert.Equal(new[] { n, Dim.Of(197), Dim.Of(3072) }, info[0].Shape);
        Assert.Equal(DataType.Float16, info[0].Type);
        var heads = Infer(Node("MatMul", 2), 13, [(DataType.Float, [n, Dim.Of(12), Dim.Of(197), Dim.Of(64)]), (DataType.Float, [n, Dim.Of(12), Dim.Of(64), Dim.Of(197)])]);
        Assert.Equal(new[] { n, Dim.Of(12), Dim.Of(197), Dim.Of(197) }, heads[0].Shape);
        Assert.Throws<TrtNativeException>(() => Infer(Node("MatMul", 2), 13, [(DataType.Float, Shapes.Of(2, 3)), (DataType.Float, Shapes.Of(4, 5))]));
    }

    [Fact]
    public void SgemmIsFastEnoughForViT()
    {
        // One ViT-B/16 MLP matmul: [197, 768] x [768, 3072].
        var rng = new Random(5);
        int m = 197, k = 768, n = 3072;
        var a = Random(rng, m * k);
        var b = Random(rng, k * n);
        var c = new float[m * n];
        Sgemm.Multiply(m, n, k, a, k, b, n, c, n, false);
        var sw = Stopwatch.StartNew();
        Sgemm.Multiply(m, n, k, a, k, b, n, c, n, false);
        sw.Stop();
        double gflops = 2.0 * m * n * k / sw.Elapsed.TotalSeconds / 1e9;
        output.WriteLine($"Sgemm {m}x{k}x{n}: {sw.Elapsed.TotalMilliseconds:F1} ms, {gflops:F1} GFLOP/s");
        var s1 = Stopwatch.StartNew();
        Sgemm.Multiply(m, n, k, a, k, b, n, c, n, false, parallel: false);
        output.WriteLine($"single thread: {s1.Elapsed.TotalMilliseconds:F1} ms, {2.0 * m * n * k / s1.Elapsed.TotalSeconds / 1e9:F1} GFLOP/s");
        Assert.True(sw.Elapsed.TotalSeconds < 2, $"took {sw.Elapsed.TotalMilliseconds} ms");
    }
}
