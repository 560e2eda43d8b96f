using Campaign.Features.Health;
using Campaign.Features.Hello;
using Carter;

namespace Campaign;

/// <summary>THE route table: every HTTP endpoint of the app, on one screen.</summary>
public sealed class Routes : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        // STEP 1: Hello World
        app.MapGet("/hello", SayHello.Handle);

        // Operations: liveness for people and monitors, readiness of the backing services
        app.MapGet("/healthz", CheckHealth.Live);
        app.MapGet("/readyz", CheckHealth.Ready);
    }
}
