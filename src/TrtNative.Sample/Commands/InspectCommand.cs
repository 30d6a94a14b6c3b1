namespace TrtNative.Sample.Commands;

internal static class InspectCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("inspect: not implemented yet");
        return 2;
    }
}
