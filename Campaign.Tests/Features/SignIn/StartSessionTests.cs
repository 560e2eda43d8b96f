using System.Net;
using Campaign.Features.Entering;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Snapshooter;
using Snapshooter.Xunit;

namespace Campaign.Tests.Features.SignIn;

[Collection(nameof(CampaignApp))]
public sealed class StartSessionTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    async Task<string> TokenFor(HttpClient client, string email, int mail = 1)
    {
        await client.Enter(email);
        return (await app.SendGrid.WaitForMail(email, mail)).Token;
    }

    [Fact]
    public async Task The_whole_flow_enter_mail_token_session_me_sign_out()
    {
        using var client = app.CreateClient();
        var token = await TokenFor(client, "taro@example.jp");

        var signIn = await client.SignIn(token);
        var me = await client.GetAsync("/api/v1/me");
        var signOut = await client.DeleteAsync("/api/v1/session");
        var afterSignOut = await client.GetAsync("/api/v1/me");

        Assert.Equal(HttpStatusCode.NoContent, signIn.StatusCode);
        var cookie = Assert.Single(signIn.Headers.GetValues("Set-Cookie"));
        // Outside Development, only this host over HTTPS may set it (no Domain, path /).
        Assert.StartsWith("__Host-campaign_session=", cookie);
        Assert.Contains("path=/;", cookie);
        Assert.DoesNotContain("domain=", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=lax", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        var body = await me.Json();
        Assert.True(Guid.TryParse((string?)body["id"], out _));
        Assert.True((DateTime)body["confirmedAt"]! >= (DateTime)body["enteredAt"]!);
        body["id"] = body["enteredAt"] = body["confirmedAt"] = "(checked above)";
        Snapshot.Match(body);
        Assert.Equal(HttpStatusCode.NoContent, signOut.StatusCode);
        Snapshot.Match(
            await afterSignOut.Problem(HttpStatusCode.Unauthorized),
            new SnapshotNameExtension("signed-out")
        );
    }

    [Fact]
    public async Task The_first_sign_in_confirms_the_entry()
    {
        using var client = app.CreateClient();
        var token = await TokenFor(client, "taro@example.jp");

        await client.SignIn(token);

        await using var session = app.Store.QuerySession();
        var entrant = await session.Query<Entrant>().SingleAsync();
        Assert.Equal(EntrantStatus.Confirmed, entrant.Status);
        Assert.NotNull(entrant.ConfirmedAt);
    }

    [Fact]
    public async Task A_token_works_once()
    {
        using var client = app.CreateClient();
        var token = await TokenFor(client, "taro@example.jp");
        await client.SignIn(token);

        using var other = app.CreateClient();
        var again = await other.SignIn(token);

        Snapshot.Match(await again.Problem(HttpStatusCode.BadRequest));
    }

    [Fact]
    public async Task A_token_used_by_two_requests_at_once_signs_in_only_one()
    {
        using var client = app.CreateClient();
        var token = await TokenFor(client, "taro@example.jp");

        var answers = await Task.WhenAll(
            Enumerable.Range(0, 6).Select(_ => app.CreateClient().SignIn(token))
        );

        Assert.Single(answers, a => a.StatusCode == HttpStatusCode.NoContent);
        Assert.All(
            answers.Where(a => a.StatusCode != HttpStatusCode.NoContent),
            a => Assert.Equal(HttpStatusCode.BadRequest, a.StatusCode)
        );
    }

    [Fact]
    public async Task A_token_expires_after_30_minutes()
    {
        using var client = app.CreateClient();
        var token = await TokenFor(client, "taro@example.jp");

        app.Clock.Advance(TimeSpan.FromMinutes(30));
        var response = await client.SignIn(token);

        await response.Problem(HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not-a-token")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task An_unknown_token_is_refused_like_a_used_one(string token)
    {
        using var client = app.CreateClient();

        var response = await client.SignIn(token);

        var problem = await response.Problem(HttpStatusCode.BadRequest);
        Assert.Equal("/problems/sign-in-token-invalid", (string)problem["type"]!);
    }

    [Fact]
    public async Task A_token_altered_in_one_character_is_refused_and_the_real_one_still_works()
    {
        using var client = app.CreateClient();
        var token = await TokenFor(client, "taro@example.jp");
        var middle = token.Length / 2;
        var altered = token[..middle] + (token[middle] == 'A' ? 'B' : 'A') + token[(middle + 1)..];

        var refused = await client.SignIn(altered);

        var problem = await refused.Problem(HttpStatusCode.BadRequest);
        Assert.Equal("/problems/sign-in-token-invalid", (string)problem["type"]!);
        Assert.Equal(HttpStatusCode.NoContent, (await client.SignIn(token)).StatusCode);
    }

    [Fact]
    public async Task Each_request_for_a_link_gets_a_new_token()
    {
        using var client = app.CreateClient();
        var first = await TokenFor(client, "taro@example.jp");
        var second = await TokenFor(client, "taro@example.jp", mail: 2);

        Assert.NotEqual(first, second);
        Assert.Equal(HttpStatusCode.NoContent, (await client.SignIn(second)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await app.CreateClient().SignIn(first)).StatusCode);
    }

    [Fact]
    public async Task A_session_survives_a_restart_of_the_app()
    {
        using var client = app.CreateClient();
        var token = await TokenFor(client, "taro@example.jp");
        var signIn = await client.SignIn(token);
        var cookie = signIn.Headers.GetValues("Set-Cookie").Single().Split(';')[0];

        // Another host of the app: its own memory, the same PostgreSQL schema and Redis.
        await using var restarted = CampaignApp.With(new() { ["DATABASE_SCHEMA"] = app.Schema });
        using var other = restarted.CreateClient();
        other.DefaultRequestHeaders.Add("Cookie", cookie);
        var me = await other.GetAsync("/api/v1/me");

        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
    }

    /// <summary>A client that sends only the cookies a test gives it, as a browser someone tampered with.</summary>
    HttpClient Bare() =>
        app.CreateClient(
            new() { HandleCookies = false, BaseAddress = app.ClientOptions.BaseAddress }
        );

    static string SessionCookieOf(HttpResponseMessage signIn) =>
        signIn
            .Headers.GetValues("Set-Cookie")
            .Single(c => c.StartsWith(Campaign.Platform.Sessions.SecureCookieName + "="))
            .Split(';')[0];

    static async Task<HttpResponseMessage> With(
        HttpClient client,
        string cookie,
        HttpRequestMessage request
    )
    {
        request.Headers.Add("Cookie", cookie);
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task A_session_cookie_planted_before_sign_in_never_becomes_the_victims_session()
    {
        // The attacker signs in as themselves and plants that cookie in the victim's browser (a
        // shared PC, a sibling subdomain, a plain-HTTP answer).
        using var attacker = Bare();
        var attackerSignIn = await attacker.SignIn(await TokenFor(attacker, "attacker@example.jp"));
        var planted = SessionCookieOf(attackerSignIn);
        var victimToken = await TokenFor(attacker, "victim@example.jp");

        // The victim signs in with the planted cookie still in their browser.
        var victimSignIn = await With(
            attacker,
            planted,
            new HttpRequestMessage(HttpMethod.Post, "/api/v1/session")
            {
                Content = System.Net.Http.Json.JsonContent.Create(new { token = victimToken }),
            }
        );
        var victimCookie = SessionCookieOf(victimSignIn);
        var asPlanted = await With(attacker, planted, new(HttpMethod.Get, "/api/v1/me"));
        var asVictim = await With(attacker, victimCookie, new(HttpMethod.Get, "/api/v1/me"));

        Assert.Equal(HttpStatusCode.NoContent, victimSignIn.StatusCode);
        // The planted key resolves to nobody now, not to the victim (nor to the attacker).
        var problem = await asPlanted.Problem(HttpStatusCode.Unauthorized);
        Assert.Equal("/problems/not-signed-in", (string)problem["type"]!);
        Assert.Equal(HttpStatusCode.OK, asVictim.StatusCode);
        await using var session = app.Store.QuerySession();
        var entrants = await session.Query<Entrant>().ToListAsync();
        var victim = entrants.Single(e => e.Email == "victim@example.jp");
        var attackerId = entrants.Single(e => e.Email == "attacker@example.jp").Id;
        Assert.Equal(victim.Id.ToString(), (string)(await asVictim.Json())["id"]!);
        // The store holds the victim's session under a new key and nothing of the attacker's.
        var sessions = app.Services.GetRequiredService<Campaign.Platform.RedisSessionStore>();
        Assert.Equal(1, await sessions.CountOf(victim.Id));
        Assert.Equal(0, await sessions.CountOf(attackerId));
    }

    [Fact]
    public async Task The_session_store_never_gives_one_entrants_key_to_another()
    {
        var sessions = app.Services.GetRequiredService<Campaign.Platform.RedisSessionStore>();
        var (one, other) = (Guid.NewGuid(), Guid.NewGuid());
        static Microsoft.AspNetCore.Authentication.AuthenticationTicket Ticket(Guid id) =>
            new(Campaign.Features.SignIn.CurrentEntrant.Principal(id), "Cookies");
        var key = await sessions.StoreAsync(Ticket(one));

        await sessions.RenewAsync(key, Ticket(one)); // a renewal of the same entrant's session
        var moved = await Record.ExceptionAsync(() => sessions.RenewAsync(key, Ticket(other)));

        Assert.IsType<InvalidOperationException>(moved);
        Assert.Null(await sessions.RetrieveAsync(key));
        Assert.Equal(0, await sessions.CountOf(other));
    }

    [Fact]
    public async Task The_sign_out_form_without_its_anti_forgery_token_signs_nobody_out()
    {
        using var client = app.CreateClient(
            new() { AllowAutoRedirect = false, BaseAddress = app.ClientOptions.BaseAddress }
        );
        await client.SignIn(await TokenFor(client, "taro@example.jp"));
        var formToken = Visitor.FormTokenIn(
            await (await client.GetAsync("/me")).Content.ReadAsStringAsync()
        );

        // Another site's form posting to ours: no token.
        var forged = await client.PostAsync("/sign-out", new FormUrlEncodedContent([]));
        var stillSignedIn = await client.GetAsync("/api/v1/me");
        var signOut = await client.PostAsync(
            "/sign-out",
            new FormUrlEncodedContent([new("__RequestVerificationToken", formToken)])
        );
        var afterwards = await client.GetAsync("/api/v1/me");

        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal(HttpStatusCode.OK, stillSignedIn.StatusCode);
        Assert.Equal(HttpStatusCode.SeeOther, signOut.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, afterwards.StatusCode);
    }
}
