using System.Net;
using System.Text;
using Campaign.Features.Ops;
using Campaign.Platform;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Snapshooter.Xunit;
using StackExchange.Redis;

namespace Campaign.Tests.Features.Ops;

/// <summary>
/// The operators' dashboard: only operators see it (anyone else gets the unknown path's 404), its
/// numbers are those of the campaign, hour by hour, and the visit counter keeps no address.
/// </summary>
// In the app's collection: its hosts keep sessions and counters in the Redis database that the
// collection's reset empties (CampaignApp.ResetAsync).
[Collection(nameof(CampaignApp))]
public sealed class OpsTests : IAsyncLifetime
{
    const string Operator = "ops.lead@example.jp";

    readonly CampaignApp operated = CampaignApp.With(
        new() { ["OPERATOR_EMAILS"] = $"someone@example.jp, {Operator}" }
    );

    public async Task InitializeAsync()
    {
        await operated.InitializeAsync();
        await operated.ResetAsync();
    }

    public Task DisposeAsync() => ((IAsyncLifetime)operated).DisposeAsync();

    HttpClient Browser(CampaignApp host)
    {
        var client = host.CreateClient(
            new() { AllowAutoRedirect = false, BaseAddress = host.ClientOptions.BaseAddress }
        );
        client.DefaultRequestHeaders.Add("Accept", "text/html");
        return client;
    }

    /// <summary>Asks for an operator's link on /me's form and signs in with it, as an operator would.</summary>
    async Task<HttpClient> SignedInOperator(CampaignApp host) => (await SignIn(host)).Client;

    async Task<(HttpClient Client, string Cookie)> SignIn(CampaignApp host)
    {
        var client = Browser(host);
        var formToken = Visitor.FormTokenIn(
            await (await client.GetAsync("/me")).Content.ReadAsStringAsync()
        );
        await client.PostAsync(
            "/sign-in/link",
            new FormUrlEncodedContent([
                new("Email", "OPS.Lead@example.jp"),
                new("__RequestVerificationToken", formToken),
            ])
        );
        var mail = await host.SendGrid.WaitForMail("OPS.Lead@example.jp");
        var signInForm = Visitor.FormTokenIn(
            await (await client.GetAsync("/sign-in")).Content.ReadAsStringAsync()
        );
        var signedIn = await client.PostAsync(
            "/sign-in",
            new FormUrlEncodedContent([
                new("Token", mail.Token),
                new("__RequestVerificationToken", signInForm),
            ])
        );
        Assert.Equal(HttpStatusCode.SeeOther, signedIn.StatusCode);
        Assert.Equal("/ops", signedIn.Headers.Location?.OriginalString);
        var cookie = signedIn
            .Headers.GetValues("Set-Cookie")
            .Single(c => c.StartsWith(Sessions.SecureCookieName))
            .Split(';')[0];
        return (client, cookie);
    }

    [Fact]
    public async Task Only_an_operator_sees_the_dashboard_and_everyone_else_gets_the_unknown_paths_404()
    {
        using var stranger = Browser(operated);
        var unknown = await stranger.GetAsync("/no-such-path");
        var unknownBody = await unknown.Content.ReadAsStringAsync();
        var (entrantClient, _) = await operated.SignedIn("entrant@example.jp");
        entrantClient.DefaultRequestHeaders.Add("Accept", "text/html");
        using var op = await SignedInOperator(operated);

        foreach (var path in new[] { "/ops", "/ops/charts", "/ops/export.csv" })
        foreach (var client in new[] { stranger, entrantClient })
        {
            var answer = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
            Assert.Equal(unknownBody, await answer.Content.ReadAsStringAsync());
        }
        var page = await op.GetAsync("/ops");

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.True(page.Headers.CacheControl?.NoStore);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("運営ダッシュボード", html);
        Assert.DoesNotContain("entrant@example.jp", html);
        // An operator is no entrant: not counted, and no entrant page.
        await using var session = operated.Store.QuerySession();
        Assert.Equal(1, await session.Query<Campaign.Features.Entering.Entrant>().CountAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, (await op.GetAsync("/api/v1/me")).StatusCode);
    }

    [Fact]
    public async Task An_operator_removed_from_OPERATOR_EMAILS_loses_the_dashboard_at_once()
    {
        var (op, cookie) = await SignIn(operated);
        // The same app after a config change (a restart with other settings), the same sessions.
        await using var changed = CampaignApp.With(
            new()
            {
                ["DATABASE_SCHEMA"] = operated.Settings().DatabaseSchema,
                ["OPERATOR_EMAILS"] = "someone@example.jp",
            }
        );
        using var sameSession = changed.CreateClient(
            new()
            {
                AllowAutoRedirect = false,
                HandleCookies = false,
                BaseAddress = changed.ClientOptions.BaseAddress,
            }
        );
        sameSession.DefaultRequestHeaders.Add("Cookie", cookie);

        var before = await op.GetAsync("/ops");
        var after = await sameSession.GetAsync("/ops");

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        op.Dispose();
    }

    [Fact]
    public async Task The_charts_numbers_are_the_campaigns_hour_by_hour()
    {
        var first = HourlyTally.HourOf(operated.Clock.GetUtcNow().ToUniversalTime()).AddHours(-5);
        using var client = operated.CreateClient();
        // Two entries (and a refused one) at 10 minutes past one hour; two entries and one
        // confirmation three hours later. Each hour's mail is sent before the clock moves on.
        operated.Clock.At(first.AddMinutes(10));
        await client.Enter("one@example.jp");
        await client.Enter("two@example.jp");
        await client.Enter("bad-address", "x"); // refused: bad input
        await operated.SendGrid.WaitForMail("one@example.jp");
        await operated.SendGrid.WaitForMail("two@example.jp");
        // Entered at 50 past, confirmed 15 minutes later, in the next hour.
        operated.Clock.At(first.AddMinutes(50));
        await client.Enter("five@example.jp");
        var five = (await operated.SendGrid.WaitForMail("five@example.jp")).Token;
        operated.Clock.At(first.AddHours(1).AddMinutes(5));
        await client.SignIn(five);
        operated.Clock.At(first.AddHours(3).AddMinutes(10));
        await client.Enter("three@example.jp");
        await client.Enter("four@example.jp");
        await client.SignIn((await operated.SendGrid.WaitForMail("four@example.jp")).Token);
        await operated.SendGrid.WaitForMail("three@example.jp");
        await Flush(operated);

        var view = await operated.Services.GetRequiredService<Dashboard>().Compute();

        var byHour = view.Hours.ToDictionary(h => h.Hour);
        // The first hour's three entries, one of them confirmed since (in the next hour).
        Assert.Equal(
            (3, 1, 0, 1),
            (
                byHour[first].Entries,
                byHour[first].EntriesConfirmed,
                byHour[first].Confirmations,
                byHour[first].BadInput
            )
        );
        var next = byHour[first.AddHours(1)];
        Assert.Equal((0, 0, 1), (next.Entries, next.EntriesConfirmed, next.Confirmations));
        var later = byHour[first.AddHours(3)];
        Assert.Equal((2, 1, 1), (later.Entries, later.EntriesConfirmed, later.Confirmations));
        Assert.Equal(5, view.Total.Entries);
        Assert.Equal(ShowDashboard.Hours, view.Hours.Count);
        Assert.All(
            view.Hours.Where(h => h.Hour != first && h.Hour != first.AddHours(3)),
            h => Assert.Equal(0, h.Entries)
        );
        // Every mail written so far (five sign-in mails) sent by the fast path.
        await Eventually.Until(async () =>
        {
            await Flush(operated);
            var mail = (await operated.Services.GetRequiredService<Dashboard>().Compute()).Total;
            return mail.MailsSent == 5;
        });
    }

    [Fact]
    public async Task The_page_shows_the_numbers_and_the_CSV_has_them_with_its_header()
    {
        using var client = operated.CreateClient();
        await client.Enter("csv@example.jp");
        await Flush(operated);
        using var op = await SignedInOperator(operated);

        var page = await (await op.GetAsync("/ops")).Content.ReadAsStringAsync();
        var csv = await op.GetAsync("/ops/export.csv");
        var bytes = await csv.Content.ReadAsByteArrayAsync();

        Assert.Contains("<svg", page);
        Assert.Contains("id=\"ops-funnel\"", page);
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Encoding.UTF8.GetPreamble(), bytes[..3]);
        var lines = Encoding
            .UTF8.GetString(bytes[3..])
            .Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Snapshot.Match(lines[0]);
        var entries = Array.IndexOf(lines[0].Split(','), "entries");
        Assert.Equal(1, lines.Skip(1).Sum(l => long.Parse(l.Split(',')[entries])));
    }

    [Fact]
    public async Task The_visit_counter_keeps_no_address_or_cookie_value_in_Redis()
    {
        var addresses = new[] { "203.0.113.71", "203.0.113.72", "2001:db8::73" };
        await using var behindRouter = CampaignApp.With(
            new()
            {
                ["DATABASE_SCHEMA"] = operated.Settings().DatabaseSchema,
                ["TRUST_FORWARDED_HEADERS"] = "true",
            }
        );
        var visitorKeys = behindRouter.Services.GetRequiredService<VisitorKeys>();
        await Eventually.Until(() => Task.FromResult(visitorKeys.Today() is not null));
        using var client = behindRouter.CreateClient();
        foreach (var address in addresses.Concat(addresses))
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Add("X-Forwarded-For", address);
            request.Headers.Add("Cookie", "lang=ja; tracking=cookie-value-secret");
            await client.SendAsync(request);
        }
        await Flush(behindRouter);

        var redis = behindRouter.Services.GetRequiredService<IConnectionMultiplexer>();
        var db = redis.GetDatabase();
        var hour = HourlyTally.VisitorsKey(
            HourlyTally.HourOf(behindRouter.Clock.GetUtcNow().ToUniversalTime())
        );
        Assert.Equal(addresses.Length, await db.HyperLogLogLengthAsync(hour));
        var everything = new StringBuilder();
        await foreach (var key in redis.GetServers()[0].KeysAsync(db.Database))
        {
            everything.Append((string?)key).Append('\n');
            if (await db.KeyTypeAsync(key) == RedisType.String)
                everything
                    .Append(Convert.ToHexString((byte[])(await db.StringGetAsync(key))!))
                    .Append(Encoding.Latin1.GetString((byte[])(await db.StringGetAsync(key))!))
                    .Append('\n');
        }
        var text = everything.ToString();
        Assert.Contains(hour, text);
        foreach (var secret in addresses.Append("cookie-value-secret").Append("203.0.113"))
            Assert.DoesNotContain(secret, text);
        // The clock's roll-up puts the hour's count into PostgreSQL.
        await ActivatorUtilities.CreateInstance<RollUpVisitors>(behindRouter.Services).Invoke();
        var view = await behindRouter.Services.GetRequiredService<Dashboard>().Compute();
        Assert.Equal(addresses.Length, view.Hours[^1].Visitors);
        Assert.Equal(2 * addresses.Length, view.Hours[^1].Views);
    }

    static Task Flush(CampaignApp host) =>
        host
            .Services.GetRequiredService<HourlyTally>()
            .Flush(
                host.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(),
                host.Settings().DatabaseSchema,
                host.Services.GetRequiredService<IConnectionMultiplexer>(),
                default
            );
}

static class HostSettings
{
    public static Settings Settings(this CampaignApp host) =>
        host.Services.GetRequiredService<Settings>();
}
