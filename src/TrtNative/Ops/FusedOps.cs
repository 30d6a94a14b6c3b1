using TrtNative.Ir;

namespace TrtNative.Ops;

internal static class FusedOps
{
    public static void Register(OpRegistry r)
    {
    }
}
