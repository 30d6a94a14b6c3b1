using TrtNative.Ir;

namespace TrtNative.Ops;

internal static class ConvOps
{
    public static void Register(OpRegistry r)
    {
    }
}
