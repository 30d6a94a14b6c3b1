using TrtNative.Ir;
using Xunit;

namespace TrtNative.Tests;

public class DimTests
{
    [Fact]
    public void SymbolicArithmeticKeepsFactors()
    {
        var n = Dim.Sym("batch");
        Assert.Equal(Dim.Sym("batch", 197), Dim.Multiply(n, Dim.Of(197)));
        Assert.Equal(n, Dim.Divide(Dim.Sym("batch", 197), Dim.Of(197)));
        Assert.Equal(Dim.Of(3), Dim.Divide(Dim.Sym("batch", 3), n));
        Assert.Null(Dim.Multiply(n, n));
        Assert.Null(Dim.Divide(Dim.Of(7), Dim.Of(2)));
        Assert.Equal("197*batch", Dim.Sym("batch", 197).ToString());
        Assert.Equal(16 * 197, Dim.Sym("batch", 197).Resolve(new Dictionary<string, long> { ["batch"] = 16 }));
    }
}
