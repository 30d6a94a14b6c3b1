using TrtNative.Ir;

namespace TrtNative.Ops;

internal static class MatrixOps
{
    public static void Register(OpRegistry r)
    {
    }
}
