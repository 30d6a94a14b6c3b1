using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TrtNative.Server.Services;

/// <summary>
/// Readiness: every service's engine is built (a server without services is ready). Unhealthy names the services
/// still building or failed.
/// </summary>
public sealed class ServicesReadyCheck(ServiceRegistry registry) : IHealthCheck
{
    /// <summary>The tag of the checks behind /v2/health/ready.</summary>
    public const string ReadyTag = "ready";

    /// <inheritdoc/>
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var notReady = registry.All.Where(s => s.State != ServiceState.Ready).Select(s => $"{s.Def.Name} ({s.State.ToString().ToLowerInvariant()})").ToList();
        return Task.FromResult(notReady.Count == 0
            ? HealthCheckResult.Healthy("every service is built")
            : HealthCheckResult.Unhealthy($"not ready: {string.Join(", ", notReady)}"));
    }
}
