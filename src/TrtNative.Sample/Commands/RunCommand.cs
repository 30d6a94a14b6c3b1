namespace TrtNative.Sample.Commands;

internal static class RunCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("run: not implemented yet");
        return 2;
    }
}
