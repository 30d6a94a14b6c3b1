using TrtNative.Compiler;
using TrtNative.Ir;
using Xunit;

namespace TrtNative.Tests.Compiler;

/// <summary>
/// <see cref="ReshapeView"/>: which reshapes of a value stored in some memory order are views of its memory, and
/// the memory order of their output. Shapes are written "2x3"; "B" and "C" are run-time sizes.
/// </summary>
public class ReshapeViewTests
{
    private static Dim[] S(string shape) => shape.Split('x').Select(d =>
        d is "B" or "C" ? Dim.Sym(d) : d.EndsWith("B", StringComparison.Ordinal) ? Dim.Sym("B", long.Parse(d[..^1])) : Dim.Of(long.Parse(d))).ToArray();

    [Theory]
    // Logical order in, logical order out: every reshape is a view.
    [InlineData("2x3x4", "0,1,2", "6x4", "0,1")]
    [InlineData("Bx197x768", "0,1,2", "Bx197x12x64", "0,1,2,3")]
    [InlineData("12x2", "0,1", "8x3", "0,1")]
    [InlineData("Bx4", "0,1", "4xB", "0,1")]
    // Splitting the innermost axis of sequence-first values in batch-first memory.
    [InlineData("197xBx2304", "1,0,2", "197xBx3x768", "1,0,2,3")]
    // Unsqueeze and squeeze in any order; a new size-1 axis goes after its logical predecessor.
    [InlineData("197xBx3x768", "1,0,2,3", "1x197xBx3x768", "0,2,1,3,4")]
    [InlineData("3x197xBx1x768", "3,1,2,0,4", "3x197xBx768", "1,2,0,3")]
    // torch's heads: [B·12, 197, 64] living as [197, B·12, 64] splits into [B, 12, 197, 64] living as [197, B, 12, 64].
    [InlineData("12Bx197x64", "1,0,2", "Bx12x197x64", "2,0,1,3")]
    // Merging axes that are neighbours in memory, in logical order.
    [InlineData("Bx197x12x64", "1,0,2,3", "Bx197x768", "1,0,2")]
    public void IsAView(string input, string inPerm, string output, string expected)
    {
        var perm = ReshapeView.Of(S(input), inPerm.Split(',').Select(int.Parse).ToArray(), S(output));
        Assert.NotNull(perm);
        Assert.Equal(expected, string.Join(",", perm));
    }

    [Theory]
    // Merging axes apart in memory: batch and 768 of batch-first memory seen sequence-first.
    [InlineData("197xBx768", "1,0,2", "197x12Bx64")]
    // Merging axes that are neighbours in memory but in the other order.
    [InlineData("2x3", "1,0", "6")]
    // Two different run-time sizes cannot be matched.
    [InlineData("BxC", "0,1", "CxB")]
    public void IsNotAView(string input, string inPerm, string output)
    {
        var perm = ReshapeView.Of(S(input), inPerm.Split(',').Select(int.Parse).ToArray(), S(output));
        Assert.Null(perm);
    }

    [Theory]
    // Cut axis 2 of [197, B, 3·768] into chunks of 768 seen as [197, B, 12, 64]: the chunk axis goes at 2.
    [InlineData("197xBx768", 2, "197xBx12x64", 2)]
    // A chunk of 1 (index into a stacked [197, B, 3, 768]) seen as [197, B, 12, 64]: at 2, before the heads.
    [InlineData("197xBx1x768", 2, "197xBx12x64", 2)]
    // A cut that the view mixes with the axis before it.
    [InlineData("2x768", 1, "1536", null)]
    public void ChunkAxes(string sliced, int axis, string seen, int? expected) =>
        Assert.Equal(expected, FuseSliceIntoAttention.ChunkAxes(S(seen), S(sliced), axis));
}
