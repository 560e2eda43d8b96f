using System.Net;
using System.Net.Http.Json;
using Marten;
using Npgsql;

namespace Campaign.Tests;

/// <summary>
/// The executable that `dotnet publish` builds, run the way the Procfile runs it, with Heroku-style
/// config vars and nothing else.
/// </summary>
public sealed class PublishedAppTests : IAsyncLifetime
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    readonly string schema = $"pub_{Guid.NewGuid():N}"[..16];
    readonly SendGridStub sendGrid = new();

    Dictionary<string, string?> HerokuEnvironment(string dyno) =>
        TestServices.Heroku(dyno, schema, sendGrid.Url, environment: "Staging");

    [Fact]
    public async Task On_an_empty_database_db_assert_fails_until_the_release_phase_applies_the_schema()
    {
        using var before = new PublishedApp(HerokuEnvironment("run.1"), "db-assert");
        Assert.True(await before.WaitForExit(Patience) != 0, before.Output);

        using var apply = new PublishedApp(HerokuEnvironment("release.1"), "db-apply");
        Assert.True(await apply.WaitForExit(Patience) == 0, apply.Output);

        using var check = new PublishedApp(HerokuEnvironment("run.1"), "db-assert");
        Assert.True(await check.WaitForExit(Patience) == 0, check.Output);
    }

    [Fact]
    public async Task The_web_process_binds_PORT_answers_and_stops_cleanly_on_SIGTERM()
    {
        await ReleasePhase();
        var port = PublishedApp.FreePort();
        using var web = new PublishedApp(HerokuEnvironment("web.1"), "--urls", $"http://*:{port}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        // As Heroku's router does: TLS ended at the router, which says so.
        http.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        await web.WaitForOutput("Now listening on", Patience);
        // The backing services were reached before the first request needed them.
        await web.WaitForOutput("info Campaign.WarmUp: warm-up: done in ms=", Patience);
        Assert.DoesNotContain("warn Campaign.WarmUp", web.Output);

        var entry = await http.PostAsJsonAsync(
            "/api/v1/entries",
            new
            {
                email = "secret.person@example.jp",
                displayName = "秘密",
                consent = true,
            }
        );
        var mail = await sendGrid.WaitForMail("secret.person@example.jp");
        var request = new HttpRequestMessage(HttpMethod.Get, "/readyz");
        request.Headers.Add("X-Request-ID", "f3c1e0a2-router");
        var ready = await http.SendAsync(request);
        var hello = await http.GetStringAsync("/hello");

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("Hello", hello);
        await web.WaitForOutput(
            "out: info Campaign.Requests: method=GET path=/readyz status=200 service=",
            TimeSpan.FromSeconds(5)
        );
        Assert.Contains("request_id=f3c1e0a2-router dyno=web.1", web.Output);
        // Neither the address nor the sign-in token reaches the logs.
        Assert.Equal(HttpStatusCode.Accepted, entry.StatusCode);
        await web.WaitForOutput("mail sent outbox_id=", TimeSpan.FromSeconds(5));
        Assert.DoesNotContain("secret.person", web.Output);
        Assert.DoesNotContain(mail.Token, web.Output);
        web.Terminate();
        Assert.Equal(0, await web.WaitForExit(TimeSpan.FromSeconds(25)));
    }

    [Fact]
    public async Task Behind_the_router_plain_HTTP_is_redirected_to_HTTPS_with_308_and_HTTPS_gets_HSTS_and_security_headers()
    {
        var port = PublishedApp.FreePort();
        using var web = new PublishedApp(HerokuEnvironment("web.1"), "--urls", $"http://*:{port}");
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        await web.WaitForOutput("Now listening on", Patience);

        var plain = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{port}/signup?x=1");
        plain.Headers.Host = "campaign.example.com";
        plain.Headers.Add("X-Forwarded-Proto", "http");
        var redirect = await http.SendAsync(plain);
        var secure = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/healthz");
        secure.Headers.Host = "campaign.example.com";
        secure.Headers.Add("X-Forwarded-Proto", "https");
        var answer = await http.SendAsync(secure);

        Assert.Equal(HttpStatusCode.PermanentRedirect, redirect.StatusCode);
        Assert.Equal(
            "https://campaign.example.com/signup?x=1",
            redirect.Headers.Location?.ToString()
        );
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal(
            "max-age=31536000",
            answer.Headers.GetValues("Strict-Transport-Security").Single()
        );
        var csp = answer.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'self'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.Contains($"connect-src 'self' {TestServices.S3["S3_ENDPOINT"]!.TrimEnd('/')}", csp);
        Assert.Equal("nosniff", answer.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal(
            "strict-origin-when-cross-origin",
            answer.Headers.GetValues("Referrer-Policy").Single()
        );
        Assert.StartsWith("camera=()", answer.Headers.GetValues("Permissions-Policy").Single());
    }

    [Fact]
    public async Task The_clock_process_serves_no_HTTP_and_stops_cleanly_on_SIGTERM()
    {
        using var clock = new PublishedApp(HerokuEnvironment("clock.1"), "clock");

        await clock.WaitForOutput("clock started", Patience);
        await clock.WaitForOutput("Hosting environment: Staging", Patience);
        Assert.DoesNotContain("Now listening on", clock.Output);
        clock.Terminate();
        Assert.Equal(0, await clock.WaitForExit(TimeSpan.FromSeconds(25)));
        Assert.Contains("clock stopping", clock.Output);
    }

    [Fact]
    public async Task The_one_off_mail_sweep_sends_what_the_fast_path_left_and_prints_how_many()
    {
        await ReleasePhase();
        await WriteUnsentMail("left.behind@example.jp");

        using var sweep = new PublishedApp(HerokuEnvironment("run.1"), "outbox-drain");

        Assert.True(await sweep.WaitForExit(Patience) == 0, sweep.Output);
        Assert.Contains("out: 1", sweep.Output);
        Assert.Single(sendGrid.MailsTo("left.behind@example.jp"));
    }

    [Fact]
    public async Task The_clock_sweeps_the_outbox_every_minute()
    {
        await ReleasePhase();
        await WriteUnsentMail("clock.sweep@example.jp");

        using var clock = new PublishedApp(HerokuEnvironment("clock.1"), "clock");

        await sendGrid.WaitForMail("clock.sweep@example.jp", timeout: TimeSpan.FromSeconds(75));
        await clock.WaitForOutput("outbox sweep handled=1", TimeSpan.FromSeconds(5));
        clock.Terminate();
        Assert.Equal(0, await clock.WaitForExit(TimeSpan.FromSeconds(25)));
    }

    [Fact]
    public async Task Each_job_of_the_schedule_runs_in_the_clocks_own_container_in_Production()
    {
        await ReleasePhase();
        // Something for each job to do. The published processes judge time by the machine's
        // clock: what the test writes is placed from it.
        var now = TestClock.RealNow;
        await WriteUnsentMail("clock.run@example.jp");
        await WriteConfirmedEntrantWhoWantsCampaignMail("night.owl@example.jp");
        await using (var store = Store())
        await using (var session = store.LightweightSession())
        {
            var forgotten = Campaign.Features.Entering.Entrant.Enter(
                new("forgotten@example.jp", "未確認", "ja", false),
                now - TimeSpan.FromDays(8)
            );
            session.Insert(forgotten);
            session.Insert(
                new Campaign.Features.Photos.PhotoUpload
                {
                    Id = "photos/never-attached.png",
                    ContentType = "image/png",
                    CreatedAt = now - TimeSpan.FromHours(2),
                    ExpiresAt = now - TimeSpan.FromHours(1),
                }
            );
            await session.SaveChangesAsync();
        }
        // Two visitors of this hour, as the web processes count them (the app's Redis database).
        var thisHour = Campaign.Platform.HourlyTally.HourOf(now.ToUniversalTime());
        var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(
            Campaign.Platform.RedisUrl.Parse(TestServices.RedisDatabase(3))
        );
        await redis
            .GetDatabase()
            .HyperLogLogAddAsync(
                Campaign.Platform.HourlyTally.VisitorsKey(thisHour),
                [$"{schema}-visitor-1", $"{schema}-visitor-2"]
            );
        var production = TestServices.Heroku("run.1", schema, sendGrid.Url);
        // Tonight's send time is always past, whatever the hour of the run.
        production["NIGHTLY_MAIL_AT"] = "00:00";

        var outputs = new Dictionary<string, string>();
        foreach (var job in Campaign.Clock.Schedule.Jobs.Select(j => j.Name))
        {
            using var run = new PublishedApp(production, "clock", "run", job);
            Assert.True(await run.WaitForExit(Patience) == 0, run.Output);
            Assert.Contains($"Campaign.Clock.ClockJob: clock job={job} ran", run.Output);
            Assert.Contains("Hosting environment: Production", run.Output);
            outputs[job] = run.Output;
        }
        using var unknown = new PublishedApp(production, "clock", "run", "Backup");
        using var none = new PublishedApp(production, "clock", "run");

        // What each job did, in the clock's container: the reminder written, the mail the fast
        // path left sent, the stale upload's record gone, the unconfirmed entry of 8 days ago gone.
        Assert.Equal(2, await unknown.WaitForExit(Patience));
        Assert.Equal(2, await none.WaitForExit(Patience));
        Assert.Contains("usage: ./Campaign clock run NAME", none.Output);
        Assert.Contains(
            "NAME one of: NightlyMailJob, SweepOutbox, SweepPhotoUploads, RollUpVisitors, PurgeExpiredData",
            unknown.Output
        );
        Assert.Single(sendGrid.MailsTo("clock.run@example.jp"));
        await using var reading = Store();
        await using var query = reading.QuerySession();
        Assert.Equal(
            ["night.owl@example.jp"],
            await query
                .Query<Campaign.Mail.OutboxMessage>()
                .Where(m => m.Kind == Campaign.Mail.MailKind.Campaign)
                .Select(m => m.To)
                .ToListAsync()
        );
        Assert.Equal(0, await query.Query<Campaign.Features.Photos.PhotoUpload>().CountAsync());
        Assert.Equal(
            ["clock.run@example.jp", "night.owl@example.jp"],
            (
                await query
                    .Query<Campaign.Features.Entering.Entrant>()
                    .Select(e => e.Email)
                    .ToListAsync()
            ).Order()
        );
        Assert.Contains(
            "pending_entrants=1",
            outputs[nameof(Campaign.Features.Privacy.PurgeExpiredData)]
        );
        await using var visitors = TestServices.Store(schema).Storage.Database.CreateConnection();
        await visitors.OpenAsync();
        await using var count = visitors.CreateCommand();
        count.CommandText =
            $"select value from {schema}.ops_hourly where metric = 'campaign.landing_visitors' and hour = @hour";
        count.Parameters.Add(new Npgsql.NpgsqlParameter("hour", thisHour.UtcDateTime));
        // At least these two: another test of this class may count visitors in this hour too.
        Assert.True((long)(await count.ExecuteScalarAsync())! >= 2);
    }

    /// <summary>The app's documents in this test's schema, as the app stores them.</summary>
    Marten.DocumentStore Store() => TestServices.Store(schema);

    Task ReleasePhase() => PublishedApp.ReleasePhase(HerokuEnvironment("release.1"));

    /// <summary>A mail written five minutes ago whose fast path never ran (its process died).</summary>
    async Task WriteUnsentMail(string to)
    {
        await using var store = Store();
        await using var session = store.LightweightSession();
        var then = TestClock.RealNow.AddMinutes(-5);
        var entrant = Campaign.Features.Entering.Entrant.Enter(
            new(to, "取り残し", "ja", false),
            then
        );
        session.Insert(entrant);
        session.Insert(
            Campaign.Mail.OutboxMessage.For(
                $"test:{to}",
                entrant.Id,
                to,
                new("件名", "<p>本文</p>", "本文"),
                then,
                expiresAt: null
            )
        );
        await session.SaveChangesAsync();
    }

    [Fact]
    public async Task The_nightly_mail_command_dry_runs_then_runs_a_night_and_a_re_run_adds_nothing()
    {
        await ReleasePhase();
        await WriteConfirmedEntrantWhoWantsCampaignMail("night.owl@example.jp");

        using var dry = new PublishedApp(
            HerokuEnvironment("run.1"),
            "nightly-mail",
            "--date",
            "2026-12-01",
            "--dry-run"
        );
        Assert.True(await dry.WaitForExit(Patience) == 0, dry.Output);
        using var run = new PublishedApp(
            HerokuEnvironment("run.2"),
            "nightly-mail",
            "--date",
            "2026-12-01"
        );
        Assert.True(await run.WaitForExit(Patience) == 0, run.Output);
        using var again = new PublishedApp(
            HerokuEnvironment("run.3"),
            "nightly-mail",
            "--date",
            "2026-12-01"
        );
        Assert.True(await again.WaitForExit(Patience) == 0, again.Output);
        using var badDate = new PublishedApp(
            HerokuEnvironment("run.4"),
            "nightly-mail",
            "--date",
            "tomorrow"
        );

        Assert.Contains("out: night=2026-12-01 dry-run qualifying=1", dry.Output);
        Assert.Contains("out: night=2026-12-01 qualifying=1 enqueued=1 summary=no", run.Output);
        Assert.Contains("err: nightly-mail 2026-12-01: 1 entrants so far", run.Output);
        Assert.Contains("out: night=2026-12-01 qualifying=0 enqueued=0 summary=no", again.Output);
        Assert.NotEqual(0, await badDate.WaitForExit(Patience));
        Assert.Contains("--date must be a date like 2026-12-01", badDate.Output);
    }

    async Task WriteConfirmedEntrantWhoWantsCampaignMail(string email)
    {
        await using var store = Store();
        var entrant = Campaign.Features.Entering.Entrant.Enter(
            new(email, "夜更かし", "ja", true),
            TestClock.RealNow
        );
        entrant.Confirm(TestClock.RealNow);
        await using var session = store.LightweightSession();
        session.Insert(entrant);
        await session.SaveChangesAsync();
    }

    [Fact]
    public async Task Seeding_is_refused_without_ALLOW_SEED_and_adds_confirmed_entrants_with_it()
    {
        await ReleasePhase();
        using var refused = new PublishedApp(
            HerokuEnvironment("run.1"),
            "seed-entrants",
            "--count",
            "10"
        );
        Assert.NotEqual(0, await refused.WaitForExit(Patience));
        var allowed = HerokuEnvironment("run.2");
        allowed["ALLOW_SEED"] = "true";

        using var seed = new PublishedApp(allowed, "seed-entrants", "--count", "7");

        Assert.True(await seed.WaitForExit(Patience) == 0, seed.Output);
        Assert.Contains("set ALLOW_SEED=true", refused.Output);
        Assert.Contains("out: seeded=7", seed.Output);
        await using var store = Store();
        await using var session = store.QuerySession();
        Assert.Equal(
            7,
            await Marten.QueryableExtensions.CountAsync(
                session.Query<Campaign.Features.Entering.Entrant>(),
                e =>
                    e.Status == Campaign.Features.Entering.EntrantStatus.Confirmed && e.CampaignMail
            )
        );
    }

    [Fact]
    public async Task Entries_accepted_by_a_process_killed_before_it_could_mail_are_mailed_by_the_sweep()
    {
        await ReleasePhase();
        var port = PublishedApp.FreePort();
        var unreachable = HerokuEnvironment("web.1");
        unreachable["SENDGRID_API_URL"] = "http://127.0.0.1:9"; // the fast path fails
        using var web = new PublishedApp(unreachable, "--urls", $"http://*:{port}");
        await web.WaitForOutput("Now listening on", Patience);
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        var entry = await http.PostAsJsonAsync(
            $"http://127.0.0.1:{port}/api/v1/entries",
            new
            {
                email = "survivor@example.jp",
                displayName = "生還",
                consent = true,
            }
        );
        Assert.Equal(HttpStatusCode.Accepted, entry.StatusCode);

        web.Kill(); // SIGKILL: no graceful stop, the in-memory queue is gone
        await using (
            var db = NpgsqlDataSource.Create(
                Campaign.Platform.DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
            )
        )
            // Minutes pass (and any lease the dead process held runs out): the sweep's turn.
            await db.CreateCommand(
                    $"update {schema}.mt_doc_outboxmessage set created_at = created_at - interval '3 minutes', claimed_until = claimed_until - interval '3 minutes'"
                )
                .ExecuteNonQueryAsync();
        using var drain = new PublishedApp(HerokuEnvironment("run.1"), "outbox-drain");

        Assert.True(await drain.WaitForExit(Patience) == 0, drain.Output);
        Assert.Single(sendGrid.MailsTo("survivor@example.jp"));
        Assert.Contains("count#campaign.mails_sent=1", drain.Output);
        Assert.Contains("count#campaign.entries=1", web.Output);
    }

    [Fact]
    public async Task On_SIGTERM_a_request_in_flight_is_answered_and_its_mail_sent_before_the_process_ends()
    {
        await ReleasePhase();
        var port = PublishedApp.FreePort();
        using var web = new PublishedApp(HerokuEnvironment("web.1"), "--urls", $"http://*:{port}");
        await web.WaitForOutput("Now listening on", Patience);
        using var http = new HttpClient();
        var body = new HalfThenRest(
            """{"email": "last.one@example.jp", "displayName": "最後の応募", """,
            "\"consent\": true}"
        );
        var request = new HttpRequestMessage(
            HttpMethod.Post,
            $"http://127.0.0.1:{port}/api/v1/entries"
        )
        {
            Content = body,
        };
        request.Headers.Add("X-Forwarded-Proto", "https");

        var answer = http.SendAsync(request);
        await body.FirstHalfSent;
        await Task.Delay(300); // the connection is open and the request under way
        body.SendTheRest();
        // The whole body on the wire, and a moment for the app to read it: a SIGTERM that lands
        // while the body is still arriving cuts it short (a 503 the router's client may retry,
        // ErrorResponses), which is not what this test is about.
        await body.RestSent;
        await Task.Delay(20);
        web.Terminate(); // the deploy's SIGTERM arrives while the entry is being handled

        var status = (await answer).StatusCode;
        Assert.Equal(0, await web.WaitForExit(TimeSpan.FromSeconds(25)));
        Assert.True(status == HttpStatusCode.Accepted, web.Output);
        Assert.Single(sendGrid.MailsTo("last.one@example.jp")); // the queue was flushed before the exit
    }

    /// <summary>A request body sent in two parts, the second only when the test says so.</summary>
    sealed class HalfThenRest(string first, string rest) : HttpContent
    {
        readonly TaskCompletionSource firstSent = new();
        readonly TaskCompletionSource restAllowed = new();
        readonly TaskCompletionSource restSent = new();

        public Task FirstHalfSent => firstSent.Task;

        public Task RestSent => restSent.Task;

        public void SendTheRest() => restAllowed.SetResult();

        protected override async Task SerializeToStreamAsync(
            Stream stream,
            System.Net.TransportContext? context
        )
        {
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(first));
            await stream.FlushAsync();
            firstSent.SetResult();
            await restAllowed.Task;
            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(rest));
            await stream.FlushAsync();
            restSent.SetResult();
        }

        protected override bool TryComputeLength(out long length)
        {
            length = System.Text.Encoding.UTF8.GetByteCount(first + rest);
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(
                "application/json"
            );
            return true;
        }
    }

    [Fact]
    public async Task The_s3_setup_command_lets_only_the_apps_origin_post_to_the_bucket()
    {
        var bucket = $"cors-{Guid.NewGuid():N}"[..20];
        var s3Settings = new Campaign.Platform.S3Settings(
            bucket,
            TestServices.S3["AWS_ACCESS_KEY_ID"]!,
            TestServices.S3["AWS_SECRET_ACCESS_KEY"]!,
            TestServices.S3["AWS_REGION"]!,
            new Uri(TestServices.S3["S3_ENDPOINT"]!)
        );
        using var s3 = Campaign.Platform.BackingServices.S3Client(s3Settings);
        await s3.PutBucketAsync(bucket);
        var environment = HerokuEnvironment("run.1");
        environment["S3_BUCKET"] = bucket;

        using var setup = new PublishedApp(environment, "s3-setup");

        Assert.True(await setup.WaitForExit(Patience) == 0, setup.Output);
        Assert.Contains(
            $"out: CORS: {bucket} accepts GET and POST from https://campaign.example.test",
            setup.Output
        );
        var rule = Assert.Single((await s3.GetCORSConfigurationAsync(bucket)).Configuration.Rules);
        Assert.Equal(["https://campaign.example.test"], rule.AllowedOrigins);
        Assert.Equal(["GET", "POST"], rule.AllowedMethods.Order());
    }

    [Fact]
    public async Task In_production_a_missing_configuration_stops_the_boot_naming_every_variable()
    {
        using var web = new PublishedApp(
            new() { ["ASPNETCORE_ENVIRONMENT"] = "Production", ["DYNO"] = "web.1" },
            "--urls",
            $"http://*:{PublishedApp.FreePort()}"
        );

        Assert.NotEqual(0, await web.WaitForExit(Patience));
        Assert.Contains("DATABASE_URL is not set", web.Output);
        Assert.Contains("REDIS_URL is not set", web.Output);
        Assert.Contains("APP_BASE_URL is not set", web.Output);
        Assert.Contains("SENDGRID_API_KEY is not set", web.Output);
        Assert.Contains("MAIL_FROM is not set", web.Output);
        Assert.DoesNotContain("Now listening on", web.Output);
    }

    [Fact]
    public async Task One_off_commands_keep_stdout_for_data_and_log_to_stderr()
    {
        using var apply = new PublishedApp(HerokuEnvironment("run.1"), "db-apply");

        Assert.Equal(0, await apply.WaitForExit(Patience));
        Assert.DoesNotMatch("(?m)^out: (info|warn|fail|crit|dbug|trce):", apply.Output);
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
