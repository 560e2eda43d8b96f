using System.Net;
using Campaign.Platform;
using Npgsql;
using StackExchange.Redis;

namespace Campaign.Tests.Platform;

/// <summary>
/// The logs name no one and open no account, also when things fail: the published web process
/// reaches PostgreSQL and Redis through fault proxies, commands carrying an entrant's address, name
/// and sign-in link time out, and its whole output is then read for them.
/// </summary>
public sealed class LoggingTests : IAsyncLifetime
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    readonly string schema = $"log_{Guid.NewGuid():N}"[..16];
    readonly SendGridStub sendGrid = new();
    readonly FaultProxy database = new(TestServices.DatabaseUrl);
    readonly FaultProxy redis = new(TestServices.RedisDatabase(6));
    PublishedApp? web;

    Dictionary<string, string?> Environment()
    {
        var environment = TestServices.Heroku("web.1", schema, sendGrid.Url, redisDatabase: 6);
        environment["DATABASE_URL"] = database.Url;
        environment["REDIS_URL"] = redis.Url;
        environment["OPERATOR_EMAIL"] = "operator.person@example.jp";
        return environment;
    }

    public Task InitializeAsync() => PublishedApp.ReleasePhase(Environment());

    [Fact]
    public async Task Commands_that_time_out_or_fail_leave_no_address_name_token_or_key_in_the_log()
    {
        var port = PublishedApp.FreePort();
        web = new PublishedApp(Environment(), "--urls", $"http://*:{port}");
        await web.WaitForOutput("Now listening on", Patience);
        var url = $"http://127.0.0.1:{port}";
        using var visitor = new Visitor();
        await visitor.PostJson(
            $"{url}/api/v1/entries",
            new
            {
                email = "Hidden.Person@example.jp",
                displayName = "秘密の名前",
                consent = true,
            }
        );
        var token = (await sendGrid.WaitForMail("Hidden.Person@example.jp")).Token;
        Assert.Equal(
            HttpStatusCode.NoContent,
            (await visitor.PostJson($"{url}/api/v1/session", new { token })).StatusCode
        );
        var redisDb = (
            await ConnectionMultiplexer.ConnectAsync(RedisUrl.Parse(TestServices.RedisDatabase(6)))
        ).GetDatabase();
        var sessionKeys = new List<string>();
        await foreach (var key in redisDb.Multiplexer.GetServers()[0].KeysAsync(6, "session:*"))
            sessionKeys.Add(key.ToString()["session:".Length..]);
        Assert.NotEmpty(sessionKeys);

        // PostgreSQL paused: the entry's commands (its lock on the address, the entrant's document,
        // its mail with the sign-in link) wait until their time-out.
        database.Hang();
        try
        {
            var entry = await visitor.PostJson(
                $"{url}/api/v1/entries",
                new
                {
                    email = "Second.Person@example.jp",
                    displayName = "二番目の名前",
                    consent = true,
                }
            );
            Assert.Equal(HttpStatusCode.ServiceUnavailable, entry.StatusCode);
        }
        finally
        {
            database.Pass();
        }
        // Redis paused: reading the session fails with the command's key in hand.
        redis.Hang();
        try
        {
            Assert.Equal(
                HttpStatusCode.ServiceUnavailable,
                (await visitor.Get($"{url}/api/v1/me")).StatusCode
            );
        }
        finally
        {
            redis.Pass();
        }
        await web.WaitForOutput("fail Marten", TimeSpan.FromSeconds(5));
        await web.WaitForOutput("RedisTimeoutException", TimeSpan.FromSeconds(5));

        var log = web.Output;
        foreach (
            var secret in new[]
            {
                "hidden.person",
                "second.person",
                "秘密の名前",
                "二番目の名前",
                "operator.person",
                "SG.test",
                token,
            }.Concat(sessionKeys)
        )
            Assert.False(
                log.Contains(secret, StringComparison.OrdinalIgnoreCase),
                $"the log holds {secret}"
            );
    }

    [Fact]
    public async Task A_value_that_PostgreSQL_quotes_in_its_error_is_withheld()
    {
        await using var db = NpgsqlDataSource.Create(
            DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
        );
        await using var command = db.CreateCommand("select $1::text::uuid");
        command.Parameters.AddWithValue("victim@example.jp");

        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteScalarAsync());

        Assert.Contains("victim@example.jp", error.Message); // what PostgreSQL says
        var logged = LogRedaction.Describe(error);
        Assert.Contains("22P02", logged);
        Assert.DoesNotContain("victim", logged);
    }

    [Fact]
    public void Addresses_and_tokens_left_in_a_line_are_masked()
    {
        var line = LogRedaction.Scrub(
            "to=Taro.Yamada+x@example.co.jp link=https://a.example/sign-in#token=AbCdEfGhIjKlMnOpQrStUv_-12 key=session:AbCdEfGhIjKlMnOpQrSt"
        );

        Assert.Equal(
            "to=***@example.co.jp link=https://a.example/sign-in#token=*** key=session=***",
            line
        );
    }

    public async Task DisposeAsync()
    {
        if (web is not null)
        {
            web.Terminate();
            await web.WaitForExit(TimeSpan.FromSeconds(25));
            web.Dispose();
        }
        await database.DisposeAsync();
        await redis.DisposeAsync();
        await sendGrid.DisposeAsync();
    }
}
