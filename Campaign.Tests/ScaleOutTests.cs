using System.Net;
using Npgsql;

namespace Campaign.Tests;

/// <summary>
/// Several web processes of the published app on one PostgreSQL and one Redis, as `heroku ps:scale
/// web=2` makes them: whichever process answers, a visitor is the same visitor.
/// </summary>
public sealed class ScaleOutTests : IAsyncLifetime
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    readonly string schema = $"scale_{Guid.NewGuid():N}"[..18];
    readonly SendGridStub sendGrid = new();

    Dictionary<string, string?> Environment(string dyno)
    {
        var environment = TestServices.Heroku(dyno, schema, sendGrid.Url, redisDatabase: 4);
        environment["RATE_LIMIT_PER_MINUTE"] = "6";
        return environment;
    }

    async Task<(PublishedApp Process, string Url)> StartWeb(
        string dyno,
        DateTimeOffset? clockAt = null
    )
    {
        var port = PublishedApp.FreePort();
        var environment = Environment(dyno);
        if (clockAt is { } at)
            foreach (var (name, value) in MovedClock.At(at))
                environment[name] = value;
        var web = new PublishedApp(environment, "--urls", $"http://*:{port}");
        await web.WaitForOutput("Now listening on", Patience);
        return (web, $"http://127.0.0.1:{port}");
    }

    static async Task Stop(PublishedApp web)
    {
        web.Terminate();
        Assert.Equal(0, await web.WaitForExit(TimeSpan.FromSeconds(25)));
        web.Dispose();
    }

    async Task<string> SignInLink(Visitor visitor, string dyno, string email, int mail)
    {
        Assert.Equal(
            HttpStatusCode.Accepted,
            (
                await visitor.PostJson(
                    $"{dyno}/api/v1/entries",
                    new
                    {
                        email,
                        displayName = "分散 太郎",
                        consent = true,
                    }
                )
            ).StatusCode
        );
        return (await sendGrid.WaitForMail(email, mail)).Token;
    }

    [Fact]
    public async Task Sessions_forms_sign_out_and_restarts_hold_across_web_processes()
    {
        await PublishedApp.ReleasePhase(Environment("release.1"));
        var (web1, one) = await StartWeb("web.1");
        var (web2, two) = await StartWeb("web.2");
        using var visitor = new Visitor();

        // Signed in on one, known on the other.
        var token = await SignInLink(visitor, one, "spread@example.jp", 1);
        Assert.Equal(
            HttpStatusCode.NoContent,
            (await visitor.PostJson($"{two}/api/v1/session", new { token })).StatusCode
        );
        Assert.Equal(HttpStatusCode.OK, (await visitor.Get($"{one}/api/v1/me")).StatusCode);

        // A form rendered by one is accepted by the other (one data-protection key ring, in Redis).
        var formToken = await visitor.FormToken($"{one}/me");
        var withdrawWithoutTicking = await visitor.PostForm(
            $"{two}/me/withdraw",
            new() { ["__RequestVerificationToken"] = formToken }
        );
        Assert.Equal(HttpStatusCode.UnprocessableEntity, withdrawWithoutTicking.StatusCode);

        // Signed out on one, out everywhere.
        Assert.True(visitor.Has(Campaign.Platform.Sessions.SecureCookieName));
        Assert.Equal(
            HttpStatusCode.NoContent,
            (await visitor.Delete($"{two}/api/v1/session")).StatusCode
        );
        Assert.Equal(
            HttpStatusCode.Unauthorized,
            (await visitor.Get($"{one}/api/v1/me")).StatusCode
        );

        // Every process restarted (a deploy, the daily restart): nobody is signed out.
        token = await SignInLink(visitor, one, "spread@example.jp", 2);
        Assert.Equal(
            HttpStatusCode.NoContent,
            (await visitor.PostJson($"{one}/api/v1/session", new { token })).StatusCode
        );
        await Stop(web1);
        await Stop(web2);
        var (web3, three) = await StartWeb("web.1");
        var (web4, four) = await StartWeb("web.2");
        Assert.Equal(HttpStatusCode.OK, (await visitor.Get($"{three}/api/v1/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await visitor.Get($"{four}/api/v1/me")).StatusCode);
        await Stop(web3);
        await Stop(web4);
    }

    [Fact]
    public async Task One_client_meets_one_limit_whichever_process_answers_and_cannot_spoof_its_address()
    {
        await PublishedApp.ReleasePhase(Environment("release.1"));
        // The limit counts per minute of each process's clock: both start at the beginning of a
        // minute, so that the requests below fall in one.
        var now = MovedClock.MachineNow;
        var minute = MovedClock.AtMinute(now, now.Minute, 0);
        var (web1, one) = await StartWeb("web.1", minute);
        var (web2, two) = await StartWeb("web.2", minute);
        using var client = new Visitor("198.51.100.7");

        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            // A client that adds its own X-Forwarded-For: the router appends the real address last,
            // and only that last hop is trusted.
            client.ClientAddress = $"10.0.0.{i}, 198.51.100.7";
            var dyno = i % 2 == 0 ? one : two;
            answers.Add(
                (
                    await client.PostJson(
                        $"{dyno}/api/v1/entries",
                        new
                        {
                            email = $"limit{i}@example.jp",
                            displayName = "制限",
                            consent = true,
                        }
                    )
                ).StatusCode
            );
        }
        using var someoneElse = new Visitor("198.51.100.8");
        var other = await someoneElse.PostJson(
            $"{one}/api/v1/entries",
            new
            {
                email = "other@example.jp",
                displayName = "別人",
                consent = true,
            }
        );

        Assert.Equal(Enumerable.Repeat(HttpStatusCode.Accepted, 6), answers.Take(6));
        Assert.Equal(
            [HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests],
            answers.Skip(6)
        );
        Assert.Equal(HttpStatusCode.Accepted, other.StatusCode);
        await Stop(web1);
        await Stop(web2);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await using var db = NpgsqlDataSource.Create(
            Campaign.Platform.DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
        );
        await db.CreateCommand($"drop schema if exists {schema} cascade").ExecuteNonQueryAsync();
        await sendGrid.DisposeAsync();
    }
}
