using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Snapshooter.Xunit;

namespace Campaign.Tests;

[Collection(nameof(CampaignApp))]
public sealed class RoutesTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public void The_route_table_lists_every_endpoint_with_its_method()
    {
        using var client = app.CreateClient();
        var routes = app
            .Services.GetRequiredService<EndpointDataSource>()
            .Endpoints.OfType<RouteEndpoint>()
            .Select(e =>
                $"{string.Join(",", e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"])} {e.RoutePattern.RawText}"
            )
            .Order(StringComparer.Ordinal)
            .ToList();

        Snapshot.Match(routes);
    }

    [Fact]
    public async Task Hello_answers_a_greeting_in_Japanese_and_English()
    {
        using var client = app.CreateClient();

        var response = await client.GetAsync("/hello");

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Snapshot.Match(await response.Content.ReadAsStringAsync());
    }
}
