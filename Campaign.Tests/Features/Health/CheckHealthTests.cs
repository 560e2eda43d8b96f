using System.Net;
using Newtonsoft.Json.Linq;
using Snapshooter.Xunit;

namespace Campaign.Tests.Features.Health;

[Collection(nameof(CampaignApp))]
public sealed class CheckHealthTests(CampaignApp app)
{
    // Ports where nothing listens: a backing service that is down.
    const string DeadRedis = "redis://127.0.0.1:1";
    const string DeadPostgres = "postgres://postgres@127.0.0.1:1/campaign";

    [Fact]
    public async Task Healthz_answers_without_asking_any_backing_service()
    {
        await using var appWithoutServices = CampaignApp.With(
            new Dictionary<string, string>
            {
                ["REDIS_URL"] = DeadRedis,
                ["DATABASE_URL"] = DeadPostgres,
            }
        );
        using var client = appWithoutServices.CreateClient();

        var response = await client.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("ok", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Readyz_is_ready_when_PostgreSQL_and_Redis_answer()
    {
        using var client = app.CreateClient();

        var response = await client.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Snapshot.Match(JToken.Parse(await response.Content.ReadAsStringAsync()));
    }

    [Fact]
    public async Task Readyz_names_Redis_when_Redis_is_down()
    {
        var body = await ReadyzProblem(new() { ["REDIS_URL"] = DeadRedis });

        Snapshot.Match(body);
    }

    [Fact]
    public async Task Readyz_names_PostgreSQL_when_PostgreSQL_is_down()
    {
        var body = await ReadyzProblem(new() { ["DATABASE_URL"] = DeadPostgres });

        Snapshot.Match(body);
    }

    static async Task<JToken> ReadyzProblem(Dictionary<string, string> overrides)
    {
        await using var broken = CampaignApp.With(overrides);
        using var client = broken.CreateClient();

        var response = await client.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JToken.Parse(await response.Content.ReadAsStringAsync());
    }
}
