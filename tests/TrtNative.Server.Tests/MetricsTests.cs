using System.Net;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>GET /metrics: the server's meter, ASP.NET Core's and the runtime's, through the Prometheus exporter.</summary>
public class MetricsTests
{
    [Fact]
    public async Task ExportsAspNetCoreAndRuntimeMetersBesideOurs()
    {
        using var f = new ServerFactory();
        var c = f.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await Get(c, "/info")).code);
        // ASP.NET Core's request duration (its http.server.request.duration), labelled by route. It is recorded when
        // the server has finished the request, which can be after the client has the response: look again, bounded.
        static bool HasInfoDuration(string text) => text.Split('\n').Any(l =>
            l.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal) && l.Contains("http_route=\"/info\""));
        string t = await c.GetStringAsync("/metrics");
        for (int i = 0; i < 50 && !HasInfoDuration(t); i++)
        {
            await Task.Delay(100);
            t = await c.GetStringAsync("/metrics");
        }
        Assert.True(HasInfoDuration(t), "no http_server_request_duration_seconds_count for /info after 5 s:\n" + t);
        Assert.Equal(1, Prom.Value(t, "trtnative_requests_total", ("endpoint", "GET /info"), ("code", "200")));
        // The runtime's meter (System.Runtime).
        Assert.Contains("# TYPE dotnet_gc_collections_total counter", t);
    }

    [Fact]
    public async Task AServerExportsOnlyItsOwnRequests()
    {
        // Two servers in one process (as in these tests): each meter comes from its host's IMeterFactory, and a
        // server's exporter leaves the other's out.
        using var a = new ServerFactory();
        using var b = new ServerFactory();
        var ca = a.CreateClient();
        var cb = b.CreateClient();
        for (int i = 0; i < 3; i++) await Get(ca, "/info");
        await Get(cb, "/info");
        Assert.Equal(3, Prom.Value(await ca.GetStringAsync("/metrics"), "trtnative_requests_total", ("endpoint", "GET /info"), ("code", "200")));
        Assert.Equal(1, Prom.Value(await cb.GetStringAsync("/metrics"), "trtnative_requests_total", ("endpoint", "GET /info"), ("code", "200")));
    }
}
