using System.Net;

namespace Campaign.Tests.Pages;

/// <summary>People get a page in their language; API clients get problem details.</summary>
[Collection(nameof(CampaignApp))]
public sealed class ErrorPagesTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    static HttpRequestMessage Browser(HttpMethod method, string path, string language = "ja")
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Accept", "text/html,application/xhtml+xml,*/*;q=0.8");
        request.Headers.Add("Accept-Language", language);
        return request;
    }

    [Fact]
    public async Task An_unknown_page_is_a_friendly_404_page()
    {
        using var client = app.CreateClient();

        var response = await client.SendAsync(Browser(HttpMethod.Get, "/no-such-page"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("ページが見つかりません", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_form_posted_without_its_anti_forgery_token_is_refused_with_a_page_and_stores_nothing()
    {
        using var client = app.CreateClient();
        var request = Browser(HttpMethod.Post, "/signup", "en");
        request.Content = new FormUrlEncodedContent(
            new Dictionary<string, string>
            {
                ["email"] = "forged@example.jp",
                ["displayName"] = "Forged",
                ["consent"] = "true",
            }
        );

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("The form may have expired", await response.Content.ReadAsStringAsync());
        await using var session = app.Store.QuerySession();
        Assert.Equal(
            0,
            await Marten.QueryableExtensions.CountAsync(
                session.Query<Campaign.Features.Entering.Entrant>()
            )
        );
    }

    [Fact]
    public async Task With_PostgreSQL_down_entering_answers_503_and_the_page_says_nothing_was_saved()
    {
        await using var down = CampaignApp.With(
            new() { ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/campaign" }
        );
        using var client = down.CreateClient();

        var api = await client.Enter("taro@example.jp");
        var form = await client.SendAsync(Browser(HttpMethod.Get, "/signup"));
        var token = Visitor.FormTokenIn(await form.Content.ReadAsStringAsync());
        var post = Browser(HttpMethod.Post, "/signup");
        post.Content = new FormUrlEncodedContent(
            new Dictionary<string, string>
            {
                ["__RequestVerificationToken"] = token,
                ["email"] = "taro@example.jp",
                ["displayName"] = "山田 太郎",
                ["consent"] = "true",
            }
        );
        var page = await client.SendAsync(post);

        var problem = await api.Problem(HttpStatusCode.ServiceUnavailable);
        Assert.Equal(
            "A backing service did not answer in time. Try again shortly.",
            (string)problem["detail"]!
        );
        Assert.Equal(HttpStatusCode.ServiceUnavailable, page.StatusCode);
        Assert.Contains("入力した内容は保存されていません", await page.Content.ReadAsStringAsync());
        // The error handler replaces the response: the security headers are still on it.
        foreach (var answer in new[] { api, page })
        {
            Assert.Contains(
                "default-src 'self'",
                answer.Headers.GetValues("Content-Security-Policy").Single()
            );
            Assert.Equal("nosniff", answer.Headers.GetValues("X-Content-Type-Options").Single());
        }
    }

    [Fact]
    public async Task With_PostgreSQL_down_the_landing_page_still_answers_without_the_count()
    {
        await using var down = CampaignApp.With(
            new() { ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/campaign" }
        );
        using var client = down.CreateClient();

        var page = await client.SendAsync(Browser(HttpMethod.Get, "/"));

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("ただいま集計できません", await page.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_landing_page_is_cached_for_a_few_seconds_per_language()
    {
        using var client = app.CreateClient();
        var before = await (
            await client.SendAsync(Browser(HttpMethod.Get, "/"))
        ).Content.ReadAsStringAsync();

        await client.Enter("crowd@example.jp");
        var cached = await (
            await client.SendAsync(Browser(HttpMethod.Get, "/"))
        ).Content.ReadAsStringAsync();
        var english = await (
            await client.SendAsync(Browser(HttpMethod.Get, "/", "en"))
        ).Content.ReadAsStringAsync();
        await Task.Delay(Campaign.Platform.LandingCopies.Lifetime + TimeSpan.FromSeconds(1));
        var later = await (
            await client.SendAsync(Browser(HttpMethod.Get, "/"))
        ).Content.ReadAsStringAsync();

        Assert.Contains("0 人（数秒ごとに集計）", before);
        Assert.Contains("0 人（数秒ごとに集計）", cached);
        // Another language renders its own page, from the same count (EntrantCount).
        Assert.Contains("0 (counted every few seconds)", english);
        Assert.Contains("1 人（数秒ごとに集計）", later);
    }

    [Fact]
    public async Task The_landing_page_and_its_copies_are_sent_whole_with_their_length_and_every_page_s_headers()
    {
        // An app of its own: no copy of the page yet, whatever other tests asked for.
        await using var fresh = CampaignApp.With(new() { ["DATABASE_SCHEMA"] = app.Schema });
        using var client = fresh.CreateClient();

        // The first renders the page (and makes this dyno's copy), the second is the copy.
        var answers = new[]
        {
            await client.SendAsync(Browser(HttpMethod.Get, "/")),
            await client.SendAsync(Browser(HttpMethod.Get, "/")),
        };

        var bodies = new List<byte[]>();
        foreach (var answer in answers)
        {
            var body = await answer.Content.ReadAsByteArrayAsync();
            bodies.Add(body);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal(body.Length, answer.Content.Headers.ContentLength);
            Assert.Equal("text/html", answer.Content.Headers.ContentType?.MediaType);
            Assert.StartsWith(
                "default-src 'self'",
                answer.Headers.GetValues("Content-Security-Policy").Single()
            );
            Assert.Equal("nosniff", answer.Headers.GetValues("X-Content-Type-Options").Single());
        }
        Assert.Equal(bodies[0], bodies[1]);
        // The whole page, to its end: nothing of it left behind in a buffer.
        var page = System.Text.Encoding.UTF8.GetString(bodies[1]);
        Assert.Contains("Heroku はじめてキャンペーン", page);
        Assert.EndsWith("</html>", page.TrimEnd());
    }
}
