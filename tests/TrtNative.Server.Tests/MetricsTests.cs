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
        string t = await c.GetStringAsync("/metrics");
        Assert.Equal(1, Prom.Value(t, "trtnative_requests_total", ("endpoint", "GET /info"), ("code", "200")));
        // ASP.NET Core's request duration (its http.server.request.duration), labelled by route.
        Assert.Contains(t.Split('\n'), l => l.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal)
            && l.Contains("http_route=\"/info\""));
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
