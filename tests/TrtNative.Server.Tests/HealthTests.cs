using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using TrtNative.Server.Services;
using Xunit;
using static TrtNative.Server.Tests.Http;

namespace TrtNative.Server.Tests;

/// <summary>/v2/health/*: ASP.NET Core health checks answered with the KServe bodies.</summary>
public class HealthTests
{
    [Fact]
    public async Task ReadinessIsAHealthCheckNamingTheServiceThatIsNotBuilt()
    {
        using var f = new ServerFactory();
        f.Settings["TrtNative:CreateWaitSeconds"] = "0"; // the failed build below is seen as one, not refused at creation
        var c = f.CreateClient();
        var health = f.Services.GetRequiredService<HealthCheckService>();
        var ready = await health.CheckHealthAsync(r => r.Tags.Contains(ServicesReadyCheck.ReadyTag));
        Assert.Equal(HealthStatus.Healthy, ready.Status);

        // nclasses contradicts the model's output: the build fails.
        var bad = MeansService(TestModels.MeansRepo(f.Dir.Sub("broken"), symbolicClasses: true), mllib: new JsonObject { ["nclasses"] = 5 });
        Assert.Equal(HttpStatusCode.Created, (await Put(c, "/services/broken", bad)).code);
        Assert.Equal("failed", (string?)(await WaitWhileBuilding(c, "broken"))["state"]);

        ready = await health.CheckHealthAsync(r => r.Tags.Contains(ServicesReadyCheck.ReadyTag));
        Assert.Equal(HealthStatus.Unhealthy, ready.Status);
        Assert.Contains("broken (failed)", ready.Entries["services"].Description);
        var (rc, rb) = await Get(c, "/v2/health/ready");
        Assert.Equal((HttpStatusCode.BadRequest, false), (rc, (bool)rb["ready"]!));
        Assert.Single(rb); // the protocol's body, not the health report
        // Liveness runs no check: a failed service does not make the server dead.
        var (lc, lb) = await Get(c, "/v2/health/live");
        Assert.Equal((HttpStatusCode.OK, true), (lc, (bool)lb["live"]!));
        // GET only, as the protocol defines them.
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await c.PostAsync("/v2/health/live", null)).StatusCode);
    }
}
