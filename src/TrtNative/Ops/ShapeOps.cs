using TrtNative.Ir;

namespace TrtNative.Ops;

internal static class ShapeOps
{
    public static void Register(OpRegistry r)
    {
    }
}
