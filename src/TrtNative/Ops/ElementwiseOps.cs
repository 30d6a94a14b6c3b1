using TrtNative.Ir;

namespace TrtNative.Ops;

internal static class ElementwiseOps
{
    public static void Register(OpRegistry r)
    {
    }
}
