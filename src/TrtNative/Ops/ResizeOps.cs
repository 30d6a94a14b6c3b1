using TrtNative.Ir;

namespace TrtNative.Ops;

internal static class ResizeOps
{
    public static void Register(OpRegistry r)
    {
    }
}
