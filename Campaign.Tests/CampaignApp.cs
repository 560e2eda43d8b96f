using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Campaign.Tests;

/// <summary>
/// The app on real PostgreSQL and Redis, in a PostgreSQL schema of its own (so runs and test hosts
/// never meet), with the schema applied as the release phase would. Settings may be overridden,
/// for instance to point a backing service at a port where nothing answers.
/// </summary>
public sealed class CampaignApp : WebApplicationFactory<Program>, IAsyncLifetime
{
    readonly IReadOnlyDictionary<string, string> overrides;

    public CampaignApp()
        : this(new Dictionary<string, string>()) { }

    CampaignApp(IReadOnlyDictionary<string, string> overrides) => this.overrides = overrides;

    /// <summary>Another host of the app, with some settings changed; not started until used.</summary>
    public static CampaignApp With(Dictionary<string, string> overrides) => new(overrides);

    public string Schema { get; } = $"test_{Guid.NewGuid():N}"[..17];

    public IDocumentStore Store => Services.GetRequiredService<IDocumentStore>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Test");
        builder.UseSetting("DATABASE_URL", TestServices.DatabaseUrl);
        builder.UseSetting("REDIS_URL", TestServices.RedisUrl);
        builder.UseSetting("DATABASE_SCHEMA", Schema);
        foreach (var (name, value) in overrides)
            builder.UseSetting(name, value);
    }

    public async Task InitializeAsync() =>
        await Store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();

    /// <summary>Every test starts from empty tables.</summary>
    public Task ResetAsync() => Store.Advanced.ResetAllData();

    async Task IAsyncLifetime.DisposeAsync()
    {
        await using (
            var db = NpgsqlDataSource.Create(
                Campaign.Platform.DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
            )
        )
            await db.CreateCommand($"drop schema if exists {Schema} cascade")
                .ExecuteNonQueryAsync();
        await DisposeAsync();
    }
}

[CollectionDefinition(nameof(CampaignApp))]
public sealed class CampaignAppCollection : ICollectionFixture<CampaignApp>;
