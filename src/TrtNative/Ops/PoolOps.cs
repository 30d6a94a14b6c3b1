using TrtNative.Ir;

namespace TrtNative.Ops;

internal static class PoolOps
{
    public static void Register(OpRegistry r)
    {
    }
}
