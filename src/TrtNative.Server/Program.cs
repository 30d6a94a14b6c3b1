using TrtNative.Server;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(ServerApp.Usage);
    return 0;
}
WebApplication app;
try
{
    app = ServerApp.Create(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(ServerApp.Usage);
    return 2;
}
app.Run();
return 0;

/// <summary>Entry point type (public for WebApplicationFactory in the tests).</summary>
public partial class Program;
