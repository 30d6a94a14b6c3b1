using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TrtNative.Server.Services;

/// <summary>
/// Readiness: every service's engine is built and has a replica in rotation (a server without services is ready; a
/// service that lost some of its GPUs but not all still serves). Unhealthy names the services still building or failed.
/// </summary>
public sealed class ServicesReadyCheck(ServiceRegistry registry) : IHealthCheck
{
    /// <summary>The tag of the checks behind /v2/health/ready.</summary>
    public const string ReadyTag = "ready";

    /// <inheritdoc/>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var notReady = registry.All.Where(s => !s.IsReady).Select(s => $"{s.Def.Name} ({s.StateName})").ToList();
        return Task.FromResult(notReady.Count == 0
            ? HealthCheckResult.Healthy("every service is built")
            : HealthCheckResult.Unhealthy($"not ready: {string.Join(", ", notReady)}"));
    }
}
