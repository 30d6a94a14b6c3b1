using System.Diagnostics.Metrics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using TrtNative.Server.Api;

namespace TrtNative.Server.Metrics;

/// <summary>Registers <see cref="ServerMetrics"/> and the exporter behind GET /metrics.</summary>
public static class MetricsSetup
{
    /// <summary>
    /// Our meter, ASP.NET Core's (requests, routing, Kestrel, exception handling) and the runtime's, read at each
    /// scrape by OpenTelemetry's Prometheus exporter (mapped by <c>MapPrometheusScrapingEndpoint</c>).
    /// </summary>
    public static IServiceCollection AddServerMetrics(this IServiceCollection services)
    {
        services.AddSingleton<ServerMetrics>();
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("trtnative-server", serviceVersion: Endpoints.Version)) // target_info
            .WithMetrics(m =>
            {
                m.AddMeter(ServerMetrics.MeterName)
                    .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Routing",
                        "Microsoft.AspNetCore.Diagnostics", "System.Runtime")
                    // Scraped state, never a cached answer: a scrape right after a request sees it.
                    .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                ((IDeferredMeterProviderBuilder)m).Configure((sp, b) =>
                {
                    // Meters are per host (IMeterFactory) but a listener hears every meter of its name in the process:
                    // another host's (tests run several servers in one process) is not ours to export.
                    var ours = sp.GetRequiredService<IMeterFactory>();
                    b.AddView(i => i.Meter.Scope is IMeterFactory f && !ReferenceEquals(f, ours) ? MetricStreamConfiguration.Drop : null);
                });
            });
        return services;
    }
}
