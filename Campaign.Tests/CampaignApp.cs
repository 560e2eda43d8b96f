using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

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

    readonly int redisDatabase;

    CampaignApp(IReadOnlyDictionary<string, string> overrides, bool kestrel = false)
    {
        this.overrides = overrides;
        redisDatabase = kestrel ? 2 : 1;
        if (kestrel)
        {
            UseKestrel(0);
            StartServer();
        }
        else
            // Cookies are Secure outside Development: talk to the app as over HTTPS, as on Heroku.
            ClientOptions.BaseAddress = new Uri("https://localhost");
    }

    /// <summary>
    /// The app on Kestrel and a real loopback port, for what the in-memory test server does not do
    /// (request size limits) and for a browser.
    /// </summary>
    public static CampaignApp OnKestrel(Dictionary<string, string> overrides) =>
        new(overrides, kestrel: true);

    public SendGridStub SendGrid { get; } = new();

    /// <summary>
    /// The app's clock. Until a test names its instant (<see cref="TestClock.At"/>) it reads the
    /// real time, which the cookie container of the test's clients judges cookies by.
    /// </summary>
    public TestClock Clock { get; } = new(TestClock.RealNow);

    /// <summary>Another host of the app, with some settings changed; not started until used.</summary>
    public static CampaignApp With(Dictionary<string, string> overrides) => new(overrides);

    public string Schema { get; } = $"test_{Guid.NewGuid():N}"[..17];

    public IDocumentStore Store => Services.GetRequiredService<IDocumentStore>();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Test");
        builder.UseSetting("DATABASE_URL", TestServices.DatabaseUrl);
        builder.UseSetting("REDIS_URL", TestServices.RedisDatabase(redisDatabase));
        builder.UseSetting("DATABASE_SCHEMA", Schema);
        builder.UseSetting("APP_BASE_URL", "https://campaign.example.test");
        builder.UseSetting("SENDGRID_API_KEY", "SG.test-key");
        builder.UseSetting("SENDGRID_API_URL", SendGrid.Url);
        builder.UseSetting("MAIL_FROM", "Campaign <campaign@example.test>");
        builder.UseSetting("SENDER_POSTAL_ADDRESS", "東京都千代田区丸の内1-1-1");
        builder.UseSetting("RATE_LIMIT_PER_MINUTE", "1000");
        // Tests enter many addresses at example.jp within an hour; the budget tests set their own.
        builder.UseSetting("UNCONFIRMED_MAIL_PER_DOMAIN_PER_HOUR", "1000000");
        builder.UseSetting("UNCONFIRMED_MAIL_PER_HOUR", "1000000");
        foreach (var (name, value) in TestServices.S3)
            builder.UseSetting(name, value);
        builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(Clock));
        if (
            System.Environment.GetEnvironmentVariable("CAMPAIGN_TEST_APP_LOG") is
            { Length: > 0 } log
        )
            builder.ConfigureTestServices(services =>
                services.AddSingleton<ILoggerProvider>(new AppLog(log, Schema))
            );
        foreach (var (name, value) in overrides)
            builder.UseSetting(name, value);
    }

    public async Task InitializeAsync() =>
        await Store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();

    /// <summary>
    /// Every test starts from empty tables, a Redis without sessions or counters, no mail and the
    /// clock at the real time. The Redis database is shared by every host made with <see cref="With"/>: a test
    /// class whose hosts sign in runs in this collection, so that no reset meets it halfway.
    /// </summary>
    public async Task ResetAsync()
    {
        await Store.Advanced.ResetAllData();
        Services.GetRequiredService<Campaign.Features.Entering.EntrantCount>().Forget();
        await ForgetRedisKeysButTheDataProtectionKeys();
        SendGrid.Reset();
        Clock.At(TestClock.RealNow);
    }

    public IDocumentSession Session() => Store.LightweightSession();

    /// <summary>
    /// The clock's photo sweep once every upload signature issued so far has expired: what an
    /// erasure leaves on record (<see cref="Campaign.Features.Photos.PhotoErasure"/>) until then
    /// is gone after it.
    /// </summary>
    public async Task SweepPhotosAfterTheLastSignature()
    {
        Clock.Advance(
            Campaign.Features.Photos.PhotoRules.SignatureLifetime + TimeSpan.FromMinutes(2)
        );
        await ActivatorUtilities
            .CreateInstance<Campaign.Features.Photos.SweepPhotoUploads>(Services)
            .Invoke();
    }

    /// <summary>A confirmed entrant, and a client signed in as them.</summary>
    public async Task<(HttpClient Client, Guid EntrantId)> SignedIn(string email)
    {
        var now = Clock.GetUtcNow();
        var entrant = Campaign.Features.Entering.Entrant.Enter(
            new(email, "写真 太郎", "ja", false),
            now
        );
        entrant.Confirm(now);
        var (token, stored) = Campaign.Features.SignIn.SignInToken.Issue(entrant.Id, now);
        await using (var session = Session())
        {
            session.Insert(entrant);
            session.Insert(stored);
            await session.SaveChangesAsync();
        }
        var client = CreateClient();
        var signIn = await client.SignIn(token);
        Assert.Equal(System.Net.HttpStatusCode.NoContent, signIn.StatusCode);
        return (client, entrant.Id);
    }

    // Every host of the app must keep reading what the others signed, as every dyno does.
    async Task ForgetRedisKeysButTheDataProtectionKeys()
    {
        var redis = Services.GetRequiredService<IConnectionMultiplexer>();
        var db = redis.GetDatabase();
        foreach (var server in redis.GetServers())
        {
            var keys = server.KeysAsync(db.Database).Where(k => k != "data-protection-keys");
            await foreach (var key in keys)
                await db.KeyDeleteAsync(key);
        }
    }

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

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await SendGrid.DisposeAsync();
    }
}

[CollectionDefinition(nameof(CampaignApp))]
public sealed class CampaignAppCollection : ICollectionFixture<CampaignApp>;
