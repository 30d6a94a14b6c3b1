var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();
app.MapGet("/info", () => Results.Json(new { head = new { method = "/info", version = "0.1.0", services = Array.Empty<object>() } }));
app.Run();
public partial class Program;
