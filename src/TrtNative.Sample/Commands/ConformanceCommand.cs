namespace TrtNative.Sample.Commands;

internal static class ConformanceCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("conformance: not implemented yet");
        return 2;
    }
}
