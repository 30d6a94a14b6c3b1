using TrtNative.Ir;

namespace TrtNative.Ops;

internal static class NormalizationOps
{
    public static void Register(OpRegistry r)
    {
    }
}
