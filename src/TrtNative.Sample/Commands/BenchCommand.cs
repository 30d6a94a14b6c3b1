namespace TrtNative.Sample.Commands;

internal static class BenchCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("bench: not implemented yet");
        return 2;
    }
}
