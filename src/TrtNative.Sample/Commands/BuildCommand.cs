namespace TrtNative.Sample.Commands;

internal static class BuildCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("build: not implemented yet");
        return 2;
    }
}
