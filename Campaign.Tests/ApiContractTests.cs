using System.Net;
using Snapshooter.Xunit;

namespace Campaign.Tests;

/// <summary>What API consumers rely on, pinned: a change here is a change for them.</summary>
[Collection(nameof(CampaignApp))]
public sealed class ApiContractTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task The_OpenAPI_document()
    {
        using var client = app.CreateClient();

        var response = await client.GetAsync("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Snapshot.Match(await response.Json());
    }

    [Fact]
    public async Task The_campaign()
    {
        using var client = app.CreateClient();
        await client.Enter("taro@example.jp");

        var response = await client.GetAsync("/api/v1/campaign");

        Snapshot.Match(await response.Json());
    }

    [Fact]
    public async Task An_unknown_API_path_is_a_404_problem()
    {
        using var client = app.CreateClient();

        Snapshot.Match(
            await (await client.GetAsync("/api/v1/nothing-here")).Problem(HttpStatusCode.NotFound)
        );
    }

    [Fact]
    public async Task A_method_the_path_does_not_take_is_a_405_problem()
    {
        using var client = app.CreateClient();

        Snapshot.Match(
            await (await client.PutAsync("/api/v1/campaign", null)).Problem(
                HttpStatusCode.MethodNotAllowed
            )
        );
    }
}
