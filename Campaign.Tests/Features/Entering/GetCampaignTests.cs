using System.Net;
using Campaign.Features.Entering;
using Npgsql;

namespace Campaign.Tests.Features.Entering;

/// <summary>What anyone may ask for costs the database little, however often it is asked.</summary>
[Collection(nameof(CampaignApp))]
public sealed class GetCampaignTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    async Task<int> CountShown(HttpClient client) =>
        (int)(await (await client.GetAsync("/api/v1/campaign")).Json())["entrantCount"]!;

    [Fact]
    public async Task The_entrant_count_is_counted_once_per_few_seconds()
    {
        app.Clock.At(DateTimeOffset.Parse("2026-12-10T03:00:00Z"));
        using var client = app.CreateClient();
        var before = await CountShown(client);
        await using (var session = app.Session())
        {
            session.Insert(
                Entrant.Enter(
                    new EntryInput("new@example.jp", "新 規", "ja", false),
                    app.Clock.GetUtcNow()
                )
            );
            await session.SaveChangesAsync();
        }

        var cached = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => CountShown(client)));
        app.Clock.Advance(EntrantCount.Lifetime);
        var after = await CountShown(client);

        Assert.Equal(0, before);
        Assert.All(cached, count => Assert.Equal(0, count));
        Assert.Equal(1, after);
    }

    [Theory]
    [InlineData("mt_doc_signintoken")]
    [InlineData("mt_doc_photoupload")]
    public async Task An_entrants_links_and_uploads_are_found_through_an_index(string table)
    {
        await using var db = NpgsqlDataSource.Create(
            Campaign.Platform.DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
        );
        await using var command = db.CreateCommand(
            "select indexdef from pg_indexes where schemaname = $1 and tablename = $2"
        );
        command.Parameters.AddWithValue(app.Schema);
        command.Parameters.AddWithValue(table);
        var indexes = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                indexes.Add(reader.GetString(0));

        Assert.Contains(indexes, index => index.Contains("'entrantId'"));
    }
}
