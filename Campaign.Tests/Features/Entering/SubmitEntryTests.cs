using System.Net;
using Campaign.Features.Entering;
using Campaign.Mail;
using Marten;
using Snapshooter;
using Snapshooter.Xunit;

namespace Campaign.Tests.Features.Entering;

[Collection(nameof(CampaignApp))]
public sealed class SubmitEntryTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    // A campaign that ended a week before the test: its clients sign in, so the app's clock reads
    // the real time (the cookie container's), and the end is placed from there.
    static DateTimeOffset EndedAWeekAgo => TestClock.RealNow - TimeSpan.FromDays(7);

    public Task DisposeAsync() => Task.CompletedTask;

    async Task<IReadOnlyList<Entrant>> Entrants()
    {
        await using var session = app.Store.QuerySession();
        return await session.Query<Entrant>().ToListAsync();
    }

    [Fact]
    public async Task Entering_stores_a_pending_entrant_and_mails_a_confirmation_link()
    {
        using var client = app.CreateClient();
        var before = app.Clock.GetUtcNow();

        var response = await client.Enter("Taro@Example.jp", locale: "ja");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Snapshot.Match(await response.Json());
        var entrant = Assert.Single(await Entrants());
        Assert.Equal(
            ("Taro@Example.jp", "山田 太郎", EntrantStatus.Pending, "ja", Terms.Version),
            (
                entrant.Email,
                entrant.DisplayName,
                entrant.Status,
                entrant.Locale,
                entrant.TermsVersion
            )
        );
        // The consent's time, and no campaign mail unless asked for.
        Assert.InRange(entrant.TermsAcceptedAt, before, app.Clock.GetUtcNow());
        Assert.False(entrant.CampaignMail);
        var mail = await app.SendGrid.WaitForMail("Taro@Example.jp");
        Assert.StartsWith("【キャンペーン】ご応募ありがとうございます", mail.Subject);
        Assert.Equal(43, mail.Token.Length);
        Assert.Equal("Bearer SG.test-key", mail.Authorization);
    }

    [Fact]
    public async Task Entering_again_with_the_same_address_in_another_case_keeps_one_entrant_and_mails_a_sign_in_link()
    {
        using var client = app.CreateClient();
        var first = await client.Enter("taro@example.jp", displayName: "山田 太郎");

        var second = await client.Enter(
            "ＴＡＲＯ＠ｅｘａｍｐｌｅ．ｊｐ",
            displayName: "なりすまし"
        );

        // From outside, nothing tells that the address had entered before.
        Assert.Equal(HttpStatusCode.Accepted, second.StatusCode);
        Assert.Equal(
            await first.Content.ReadAsStringAsync(),
            await second.Content.ReadAsStringAsync()
        );
        var entrant = Assert.Single(await Entrants());
        Assert.Equal("山田 太郎", entrant.DisplayName);
        await app.SendGrid.WaitForMail("TARO@example.jp", count: 2);
        Assert.Equal(
            [
                "【キャンペーン】ご応募ありがとうございます：応募を確定してください",
                "【キャンペーン】サインイン用のリンクです",
            ],
            app.SendGrid.MailsTo("taro@example.jp").Select(m => m.Subject).Order()
        );
    }

    [Fact]
    public async Task Concurrent_entries_of_one_address_keep_exactly_one_entrant_and_at_most_three_mails()
    {
        using var client = app.CreateClient();

        var responses = await Task.WhenAll(
            Enumerable
                .Range(0, 30)
                .Select(i => client.Enter(i % 2 == 0 ? "hanako@example.jp" : "HANAKO@example.jp"))
        );

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        Assert.Single(await Entrants());
        await app.SendGrid.WaitForMail("hanako@example.jp", count: 3);
        await using var session = app.Store.QuerySession();
        Assert.Equal(3, await session.Query<OutboxMessage>().CountAsync());
    }

    [Fact]
    public async Task An_entry_that_PostgreSQL_refuses_fails_alone_and_the_rest_of_its_batch_is_written()
    {
        // One writer that waits 50 ms for more: the twenty entries below make one batch.
        await using var batched = CampaignApp.With(
            new()
            {
                ["DATABASE_SCHEMA"] = app.Schema,
                ["ENTRY_BATCH_WRITERS"] = "1",
                ["ENTRY_BATCH_WINDOW_MS"] = "50",
            }
        );
        using var client = batched.CreateClient();
        await client.Enter("warm@example.jp"); // the schema and the templates, before the batch
        // The fault, in the real database: a value PostgreSQL refuses (a check violation, 23514).
        await using var db = Npgsql.NpgsqlDataSource.Create(
            Campaign.Platform.DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
        );
        await db.CreateCommand(
                $"""
                create function {app.Schema}.refuse_one() returns trigger language plpgsql as $$
                begin raise exception 'refused' using errcode = 'check_violation'; end $$;
                create trigger refuse_one before insert on {app.Schema}.mt_doc_entrant for each row
                when (new.data ->> 'displayName' = '拒否') execute function {app.Schema}.refuse_one();
                """
            )
            .ExecuteNonQueryAsync();

        HttpResponseMessage[] answers;
        try
        {
            answers = await Task.WhenAll(
                Enumerable
                    .Range(0, 20)
                    .Select(i =>
                        client.Enter($"batch{i}@example.jp", i == 7 ? "拒否" : "一括 太郎")
                    )
            );
        }
        finally
        {
            await db.CreateCommand($"drop function {app.Schema}.refuse_one() cascade")
                .ExecuteNonQueryAsync();
        }

        // Refused again however often it comes: not a 503 that asks the client to retry.
        Assert.Equal(HttpStatusCode.InternalServerError, answers[7].StatusCode);
        Assert.All(
            answers.Where((_, i) => i != 7),
            a => Assert.Equal(HttpStatusCode.Accepted, a.StatusCode)
        );
        var written = (await Entrants()).Where(e => e.Email.StartsWith("batch")).ToList();
        Assert.Equal(19, written.Count);
        Assert.DoesNotContain(written, e => e.Email == "batch7@example.jp");
        // They were written in batches (the halves of a split share their time), not one by one.
        Assert.InRange(written.Select(e => e.CreatedAt).Distinct().Count(), 2, 10);
        foreach (var entrant in written)
            await batched.SendGrid.WaitForMail(entrant.Email);
    }

    [Fact]
    public async Task The_mail_cap_holds_back_a_fourth_mail_in_15_minutes_without_changing_the_answer()
    {
        using var client = app.CreateClient();
        for (var i = 0; i < 3; i++)
            await client.Enter("jiro@example.jp");

        var fourth = await client.Enter("jiro@example.jp");
        app.Clock.Advance(TimeSpan.FromMinutes(16));
        var later = await client.Enter("jiro@example.jp");

        Assert.Equal(HttpStatusCode.Accepted, fourth.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, later.StatusCode);
        await app.SendGrid.WaitForMail("jiro@example.jp", count: 4);
        // The fourth entry wrote no mail at all (the cap), rather than a mail not yet sent: the
        // outbox holds four, every one sent, and SendGrid had those four.
        await Eventually.Until(async () =>
        {
            await using var session = app.Store.QuerySession();
            return !await session
                .Query<OutboxMessage>()
                .AnyAsync(m => m.Status != OutboxStatus.Sent);
        });
        await using (var session = app.Store.QuerySession())
            Assert.Equal(4, await session.Query<OutboxMessage>().CountAsync());
        Assert.Equal(4, app.SendGrid.MailsTo("jiro@example.jp").Count);
    }

    [Fact]
    public async Task Outside_the_campaign_period_entering_answers_409_campaign_closed()
    {
        await using var closed = CampaignApp.With(
            new() { ["CAMPAIGN_ENDS_AT"] = TestClock.InTokyo(EndedAWeekAgo) }
        );
        await closed.InitializeAsync();
        using var client = closed.CreateClient();

        var response = await client.Enter("late@example.jp", locale: "en");

        Snapshot.Match(await response.Problem(HttpStatusCode.Conflict));
        await using var session = closed.Store.QuerySession();
        Assert.Equal(0, await session.Query<Entrant>().CountAsync());
        await ((IAsyncLifetime)closed).DisposeAsync();
    }

    [Fact]
    public async Task Before_the_campaign_opens_entering_answers_409_with_when_it_opens()
    {
        // Opens at 10:00 in Tokyo a week after the run's day (whatever that day is).
        var day = DateOnly.FromDateTime(
            TimeZoneInfo
                .ConvertTime(TestClock.RealNow, TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo"))
                .DateTime
        );
        var opens = day.AddDays(7);
        await using var early = CampaignApp.With(
            new() { ["CAMPAIGN_STARTS_AT"] = $"{opens:yyyy-MM-dd}T10:00" }
        );
        await early.InitializeAsync();
        using var client = early.CreateClient();

        var ja = await (await client.Enter("early@example.jp", locale: "ja")).Problem(
            HttpStatusCode.Conflict
        );
        var en = await (await client.Enter("early@example.jp", locale: "en")).Problem(
            HttpStatusCode.Conflict
        );
        var landing = await client.GetStringAsync("/");

        Assert.Equal("/problems/campaign-not-yet-open", (string)ja["type"]!);
        Assert.Equal(
            $"キャンペーンの応募は {opens:yyyy年M月d日} 10:00（日本時間）から受け付けます。",
            (string)ja["detail"]!
        );
        Assert.Equal(
            $"Entries open on {opens.ToString("MMM d, yyyy", System.Globalization.CultureInfo.InvariantCulture)} 10:00 (Japan time).",
            (string)en["detail"]!
        );
        Assert.Contains(
            $"キャンペーンの応募は {opens:yyyy年M月d日} 10:00（日本時間）から",
            landing
        );
        await using var session = early.Store.QuerySession();
        Assert.Equal(0, await session.Query<Entrant>().CountAsync());
        await ((IAsyncLifetime)early).DisposeAsync();
    }

    [Fact]
    public async Task After_the_campaign_ends_signing_in_my_page_and_withdrawing_still_work()
    {
        await using var closed = CampaignApp.With(
            new() { ["CAMPAIGN_ENDS_AT"] = TestClock.InTokyo(EndedAWeekAgo) }
        );
        await closed.InitializeAsync();
        string token;
        await using (var session = closed.Session())
        {
            var entrant = Entrant.Enter(
                new EntryInput("early@example.jp", "早起き", "ja", false),
                EndedAWeekAgo - TimeSpan.FromDays(14)
            );
            (token, var stored) = Campaign.Features.SignIn.SignInToken.Issue(
                entrant.Id,
                closed.Clock.GetUtcNow()
            );
            session.Insert(entrant);
            session.Insert(stored);
            await session.SaveChangesAsync();
        }
        using var client = closed.CreateClient();

        Assert.Equal(HttpStatusCode.NoContent, (await client.SignIn(token)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/me")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/api/v1/me")).StatusCode);
        await ((IAsyncLifetime)closed).DisposeAsync();
    }

    public static TheoryData<string, string, string> BadBodies =>
        new()
        {
            { "malformed JSON", """{"email": "a@example.jp", """, "application/json" },
            {
                "wrong type",
                """{"email": 42, "displayName": "x", "consent": true}""",
                "application/json"
            },
            {
                "consent as text",
                """{"email": "a@example.jp", "displayName": "x", "consent": "yes"}""",
                "application/json"
            },
            { "a JSON null", "null", "application/json" },
            { "an empty body", "", "application/json" },
        };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task A_body_that_cannot_be_read_is_a_400_problem_and_stores_nothing(
        string kind,
        string body,
        string contentType
    )
    {
        using var client = app.CreateClient();

        var problem = await (await client.PostRaw("/api/v1/entries", body, contentType)).Problem(
            HttpStatusCode.BadRequest
        );

        Snapshot.Match(problem, new SnapshotNameExtension(kind.Replace(' ', '-')));
        Assert.Empty(await Entrants());
    }

    [Fact]
    public async Task A_body_that_is_not_JSON_is_a_415_problem()
    {
        using var client = app.CreateClient();

        var response = await client.PostRaw(
            "/api/v1/entries",
            "email=a@example.jp",
            "application/x-www-form-urlencoded"
        );

        Snapshot.Match(await response.Problem(HttpStatusCode.UnsupportedMediaType));
        Assert.Empty(await Entrants());
    }

    [Fact]
    public async Task A_body_over_16_KiB_is_a_413_problem()
    {
        await using var kestrel = CampaignApp.OnKestrel(
            new() { ["DATABASE_SCHEMA"] = app.Schema, ["TRUST_FORWARDED_HEADERS"] = "true" }
        );
        using var client = kestrel.CreateClient();
        client.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        var huge =
            $$"""{"email": "a@example.jp", "displayName": "{{new string('あ', 20_000)}}", "consent": true}""";

        var response = await client.PostRaw("/api/v1/entries", huge);

        Snapshot.Match(await response.Problem(HttpStatusCode.RequestEntityTooLarge));
        Assert.Empty(await Entrants());
    }

    [Fact]
    public async Task Invalid_fields_are_a_422_problem_with_an_error_for_each_field()
    {
        using var client = app.CreateClient();

        var response = await client.PostRaw(
            "/api/v1/entries",
            """{"email": "taro@example.jp\r\nBcc: x@example.jp", "displayName": "山田\u0007太郎", "consent": false, "locale": "en"}"""
        );

        Snapshot.Match(await response.Problem(HttpStatusCode.UnprocessableEntity));
        Assert.Empty(await Entrants());
        Assert.Empty(app.SendGrid.Requests);
    }

    [Fact]
    public async Task Too_many_entries_from_one_client_in_a_minute_answer_429_with_Retry_After()
    {
        await using var limited = CampaignApp.With(new() { ["RATE_LIMIT_PER_MINUTE"] = "2" });
        await limited.InitializeAsync();
        using var client = limited.CreateClient();
        // The limit counts per minute of the app's clock: the three entries fall in one minute.
        var now = TestClock.RealNow;
        limited.Clock.At(
            new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, now.Offset)
        );

        var answers = new List<HttpResponseMessage>();
        for (var i = 0; i < 3; i++)
            answers.Add(await client.Enter($"user{i}-{Guid.NewGuid():N}@example.jp"));

        Assert.Equal(
            [HttpStatusCode.Accepted, HttpStatusCode.Accepted],
            answers.Take(2).Select(a => a.StatusCode)
        );
        var problem = await answers[2].Problem(HttpStatusCode.TooManyRequests);
        Assert.Equal("/problems/too-many-requests", (string)problem["type"]!);
        Assert.InRange(int.Parse(answers[2].Headers.RetryAfter!.ToString()), 1, 60);
        await ((IAsyncLifetime)limited).DisposeAsync();
    }
}
