using System.Net;
using Campaign.Features.Entering;
using Campaign.Mail;
using Marten;
using Newtonsoft.Json.Linq;
using Npgsql;
using Xunit.Abstractions;

namespace Campaign.Tests;

/// <summary>
/// A campaign's whole life, as deployed: the published release phase, two web processes and the
/// clock, each phase on the day it is about. Time moves as it does on Heroku, by restarting the
/// processes (dynos restart every day): each phase starts them with libfaketime at its own instant
/// (<see cref="MovedClock"/>). The campaign is placed from the machine's clock, two days ahead,
/// since the bucket stamps uploads by the machine's clock. PostgreSQL and Redis keep one clock
/// throughout: the app decides nothing by theirs.
/// </summary>
public sealed class LifetimeTests(ITestOutputHelper output) : IAsyncLifetime
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    static readonly TimeZoneInfo Tokyo = TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo");
    const int RetentionDays = 30;
    const int PendingRetentionDays = 7;

    readonly string schema = $"life_{Guid.NewGuid():N}"[..16];
    readonly SendGridStub sendGrid = new();
    readonly List<PublishedApp> running = [];
    readonly List<string> stopped = [];

    // The first day of the campaign: two days after the machine's today in Tokyo.
    static readonly DateOnly FirstDay = DateOnly
        .FromDateTime(TimeZoneInfo.ConvertTime(MovedClock.MachineNow, Tokyo).DateTime)
        .AddDays(2);

    // Open from 10:00 on the first day until midnight after the third.
    static readonly DateTimeOffset StartsAt = InTokyo(FirstDay, 10, 0);
    static readonly DateTimeOffset EndsAt = InTokyo(FirstDay.AddDays(3), 0, 0);

    static DateTimeOffset InTokyo(DateOnly day, int hour, int minute, int second = 0)
    {
        var local = day.ToDateTime(new TimeOnly(hour, minute, second));
        return new DateTimeOffset(local, Tokyo.GetUtcOffset(local));
    }

    Dictionary<string, string?> Environment(string dyno, DateTimeOffset at)
    {
        var environment = TestServices.Heroku(dyno, schema, sendGrid.Url, redisDatabase: 9);
        environment["S3_ENDPOINT"] = s3Endpoint;
        environment["CAMPAIGN_STARTS_AT"] = $"{FirstDay:yyyy-MM-dd}T10:00";
        environment["CAMPAIGN_ENDS_AT"] = $"{FirstDay.AddDays(3):yyyy-MM-dd}T00:00";
        environment["RETENTION_DAYS"] = RetentionDays.ToString();
        environment["PENDING_RETENTION_DAYS"] = PendingRetentionDays.ToString();
        environment["OPERATOR_EMAIL"] = "ops@example.jp";
        foreach (var (name, value) in MovedClock.At(at))
            environment[name] = value;
        return environment;
    }

    /// <summary>The processes of a phase, their clocks reading <paramref name="at"/> as they start.</summary>
    async Task<(string Web1, string Web2)> Phase(string name, DateTimeOffset at, bool clock)
    {
        await StopAll();
        output.WriteLine(
            $"{name}: {TimeZoneInfo.ConvertTime(at, Tokyo):yyyy-MM-dd HH:mm:ss} in Tokyo"
        );
        await StartBucket(at);
        if (!released)
            await PublishedApp.ReleasePhase(Environment("release.1", at));
        released = true;
        var urls = new List<string>();
        foreach (var dyno in new[] { "web.1", "web.2" })
        {
            var port = PublishedApp.FreePort();
            var web = new PublishedApp(Environment(dyno, at), "--urls", $"http://*:{port}");
            running.Add(web);
            await web.WaitForOutput("Now listening on", Patience);
            urls.Add($"http://127.0.0.1:{port}");
        }
        if (clock)
        {
            Clock = new PublishedApp(Environment("clock.1", at), "clock");
            running.Add(Clock);
            await Clock.WaitForOutput("clock started", Patience);
        }
        return (urls[0], urls[1]);
    }

    PublishedApp? Clock { get; set; }

    // The bucket's stand-in (s3rver), on the phase's clock too: it refuses requests signed at a
    // time far from its own. Its objects stay in one folder from phase to phase.
    readonly string bucketFolder = Directory.CreateTempSubdirectory("campaign-life-s3-").FullName;
    System.Diagnostics.Process? bucket;
    string s3Endpoint = "";

    async Task StartBucket(DateTimeOffset at)
    {
        StopBucket();
        var port = PublishedApp.FreePort();
        var start = new System.Diagnostics.ProcessStartInfo(
            Path.Combine(CourseTests.Root, "node_modules/.bin/s3rver")
        )
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (
            var arg in new[]
            {
                "-d",
                bucketFolder,
                "-a",
                "127.0.0.1",
                "-p",
                port.ToString(),
                "--silent",
                "--configure-bucket",
                TestServices.S3["S3_BUCKET"]!,
                Path.Combine(CourseTests.Root, "bin/lib/s3-cors.xml"),
            }
        )
            start.ArgumentList.Add(arg);
        foreach (var (name, value) in MovedClock.At(at))
            start.Environment[name] = value;
        bucket = System.Diagnostics.Process.Start(start)!;
        s3Endpoint = $"http://127.0.0.1:{port}";
        using var http = new HttpClient();
        await Eventually.Until(
            async () =>
            {
                try
                {
                    return (await http.GetAsync(s3Endpoint)).IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return false;
                }
            },
            Patience,
            "s3rver answering"
        );
    }

    void StopBucket()
    {
        if (bucket is null)
            return;
        bucket.Kill(entireProcessTree: true);
        bucket.WaitForExit();
        bucket.Dispose();
        bucket = null;
    }

    bool released;

    async Task StopAll()
    {
        foreach (var process in running)
        {
            process.Terminate();
            var exit = await process.WaitForExit(TimeSpan.FromSeconds(25));
            stopped.Add(process.Output);
            Assert.Equal(0, exit);
            process.Dispose();
        }
        running.Clear();
        Clock = null;
    }

    static async Task Enter(Visitor visitor, string url, string email, string expect = "202")
    {
        var response = await visitor.PostJson(
            $"{url}/api/v1/entries",
            new
            {
                email,
                displayName = "一生 太郎",
                consent = true,
                campaignMail = true,
            }
        );
        Assert.Equal(expect, ((int)response.StatusCode).ToString());
    }

    readonly HashSet<string> usedTokens = [];

    /// <summary>Signs in with the link of the newest sign-in mail to the address.</summary>
    async Task SignIn(Visitor visitor, string url, string email)
    {
        string Fresh() =>
            sendGrid
                .Delivered.LastOrDefault(m =>
                    m.To == email && m.Token.Length > 0 && !usedTokens.Contains(m.Token)
                )
                ?.Token
            ?? "";
        await Eventually.Until(
            () => Task.FromResult(Fresh().Length > 0),
            Patience,
            $"a link to {email}"
        );
        var token = Fresh();
        usedTokens.Add(token);
        var session = await visitor.PostJson($"{url}/api/v1/session", new { token });
        Assert.Equal(HttpStatusCode.NoContent, session.StatusCode);
    }

    Marten.DocumentStore Store() => TestServices.Store(schema);

    async Task<List<string>> Entrants()
    {
        await using var store = Store();
        await using var query = store.QuerySession();
        return [.. (await query.Query<Entrant>().Select(e => e.Email).ToListAsync()).Order()];
    }

    async Task<List<OutboxMessage>> Reminders()
    {
        await using var store = Store();
        await using var query = store.QuerySession();
        return
        [
            .. await query
                .Query<OutboxMessage>()
                .Where(m => m.Kind == MailKind.Campaign)
                .ToListAsync(),
        ];
    }

    static bool IsReminder(SendGridStub.Mail mail) =>
        mail.Subject.Contains("プロフィール写真") || mail.Subject.Contains("profile photo");

    [Fact]
    public async Task A_campaign_from_before_it_opens_until_nothing_of_its_entrants_is_left()
    {
        using var hanako = new Visitor("203.0.113.21"); // reminded: no photo
        using var ken = new Visitor("203.0.113.22"); // adds a photo, withdraws after the end
        using var jiro = new Visitor("203.0.113.23"); // never confirms

        // Before it opens: the clear answer, on both dynos.
        var (web1, web2) = await Phase("before", StartsAt - TimeSpan.FromDays(1), clock: false);
        var early = await hanako.PostJson(
            $"{web2}/api/v1/entries",
            new
            {
                email = "hanako@example.jp",
                displayName = "早すぎ",
                consent = true,
            }
        );
        Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
        var problem = JObject.Parse(await early.Content.ReadAsStringAsync());
        Assert.Equal("/problems/campaign-not-yet-open", (string)problem["type"]!);
        Assert.Contains(
            $"キャンペーンの応募は {FirstDay:yyyy年M月d日} 10:00（日本時間）から受け付けます",
            await (await hanako.Get($"{web1}/")).Content.ReadAsStringAsync()
        );

        // Open: entries, sign-in on the other dyno, a photo.
        (web1, web2) = await Phase("open", StartsAt + TimeSpan.FromHours(1), clock: false);
        await Enter(hanako, web1, "hanako@example.jp");
        await SignIn(hanako, web2, "hanako@example.jp");
        await Enter(ken, web2, "ken@example.jp");
        await SignIn(ken, web1, "ken@example.jp");
        var signed = JObject.Parse(
            await (
                await ken.PostJson(
                    $"{web2}/api/v1/me/photo-uploads",
                    new { contentType = "image/png" }
                )
            ).Content.ReadAsStringAsync()
        );
        await Features.Photos.PhotoTests.Upload(signed, Features.Photos.Images.Png);
        var attached = await ken.Send(
            new HttpRequestMessage(HttpMethod.Put, $"{web1}/api/v1/me/photo")
            {
                Content = System.Net.Http.Json.JsonContent.Create(
                    new { key = (string)signed["key"]! }
                ),
            }
        );
        Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        await Enter(jiro, web1, "jiro@example.jp");
        Assert.Equal(HttpStatusCode.OK, (await hanako.Get($"{web1}/api/v1/me")).StatusCode);
        Dictionary<string, Guid> entrants;
        await using (var store = Store())
        await using (var query = store.QuerySession())
            entrants = (await query.Query<Entrant>().ToListAsync()).ToDictionary(
                e => e.Email,
                e => e.Id
            );
        Assert.Equal(3, entrants.Count);
        // The photo is in the bucket's folder, where the end checks that nothing is left.
        Assert.Equal(
            ["S3"],
            (await Left(entrants)).Where(l => l.StartsWith("S3")).Select(l => l[..2]).Distinct()
        );

        // 20:00 in Tokyo on the second night, with SendGrid down: the clock writes the reminder,
        // its first attempt fails and waits.
        var night = FirstDay.AddDays(1);
        sendGrid.Outage = 503;
        await Phase("20:00, SendGrid down", InTokyo(night, 19, 59, 40), clock: true);
        await Eventually.Until(
            async () => (await Reminders()) is [{ Attempts: >= 1 }],
            TimeSpan.FromMinutes(4),
            "the reminder's first attempt"
        );
        var failed = Assert.Single(await Reminders());
        Assert.Equal((OutboxStatus.Pending, "hanako@example.jp"), (failed.Status, failed.To));
        Assert.Equal(
            ("SendGrid answered 503", false),
            (failed.LastError, sendGrid.Delivered.Any(IsReminder))
        );

        // Later that night SendGrid is back: the reminder leaves once, to the one who qualifies.
        sendGrid.Outage = null;
        await Phase("21:00, SendGrid back", InTokyo(night, 20, 59, 40), clock: true);
        await Eventually.Until(
            async () => (await Reminders()) is [{ Status: OutboxStatus.Sent }],
            TimeSpan.FromMinutes(2),
            "the reminder sent"
        );
        await Clock!.WaitForOutput("clock job=PurgeExpiredData ran", Patience);
        var reminded = sendGrid.Delivered.Where(IsReminder).Select(m => m.To).ToList();
        Assert.Equal(["hanako@example.jp"], reminded);
        output.WriteLine($"reminded after the outage: {string.Join(", ", reminded)}");

        // After the end: entering is closed; signing in, my page, export and withdrawal work.
        (web1, web2) = await Phase("after the end", EndsAt + TimeSpan.FromHours(12), clock: false);
        using (var late = new Visitor("203.0.113.24"))
            await Enter(late, web1, "late@example.jp", expect: "409");
        using (var again = new Visitor("203.0.113.21"))
        {
            var form = await again.FormToken($"{web2}/me");
            var link = await again.PostForm(
                $"{web2}/sign-in/link",
                new() { ["Email"] = "hanako@example.jp", ["__RequestVerificationToken"] = form }
            );
            Assert.Equal(HttpStatusCode.SeeOther, link.StatusCode);
            await SignIn(again, web1, "hanako@example.jp");
            Assert.Equal(HttpStatusCode.OK, (await again.Get($"{web2}/api/v1/me")).StatusCode);
            Assert.Equal(
                HttpStatusCode.OK,
                (await again.Get($"{web1}/api/v1/me/export")).StatusCode
            );
        }
        Assert.Equal(HttpStatusCode.NoContent, (await ken.Delete($"{web2}/api/v1/me")).StatusCode);
        Assert.Equal(["hanako@example.jp", "jiro@example.jp"], await Entrants());

        // A week after the never-confirmed entry, at the hour's purge: it is gone.
        var expired = StartsAt + TimeSpan.FromDays(PendingRetentionDays) + TimeSpan.FromHours(3);
        await Phase(
            "unconfirmed entries expire",
            MovedClock.AtMinute(expired, 59, 40),
            clock: true
        );
        await Clock!.WaitForOutput("clock job=PurgeExpiredData ran", Patience);
        Assert.Equal(["hanako@example.jp"], await Entrants());

        // RETENTION_DAYS after the end, at the hour's purge: everything goes; ten minutes later,
        // once no upload signature can bring an object back, the bucket's last records go too.
        var end = EndsAt + TimeSpan.FromDays(RetentionDays);
        await Phase("retention ends", MovedClock.AtMinute(end, 59, 40), clock: true);
        await Clock!.WaitForOutput("retention purge campaign_purge=yes", Patience);
        (web1, _) = await Phase(
            "ten minutes later",
            MovedClock.AtMinute(end + TimeSpan.FromHours(1), 9, 40),
            clock: true
        );
        await Clock!.WaitForOutput("clock job=SweepPhotoUploads ran", Patience);

        Assert.Empty(await Entrants());
        Assert.Equal(
            HttpStatusCode.Unauthorized,
            (await hanako.Get($"{web1}/api/v1/me")).StatusCode
        );
        Assert.Empty(await Left(entrants));
        await StopAll();
    }

    /// <summary>
    /// Everything that names one of the entrants: a row of this campaign's schema (but the
    /// operator's own mail), a key in its Redis database (a session, the index of their sessions),
    /// an object in their folders.
    /// </summary>
    async Task<List<string>> Left(Dictionary<string, Guid> entrants)
    {
        string[] needles =
        [
            .. entrants.Keys,
            .. entrants.Values.Select(id => id.ToString()),
            .. entrants.Values.Select(id => id.ToString("N")),
        ];
        var left = await Traces.InSchema(schema, needles, except: "ops@example.jp");

        await using var redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(
            Campaign.Platform.RedisUrl.Parse(TestServices.RedisDatabase(9))
        );
        var database = redis.GetDatabase();
        foreach (var server in redis.GetServers())
        await foreach (var key in server.KeysAsync(database.Database))
            if (((string)key!).StartsWith("session"))
                left.Add($"Redis {key}");

        // The bucket's objects, as the stand-in keeps them on disk (a request signed now would be
        // refused by its clock).
        foreach (var id in entrants.Values)
        {
            var folder = Path.Combine(
                bucketFolder,
                TestServices.S3["S3_BUCKET"]!,
                Campaign.Features.Photos.PhotoRules.PrefixOf(id)
            );
            if (Directory.Exists(folder))
                left.AddRange(
                    Directory
                        .EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                        .Select(f => $"S3 {Path.GetRelativePath(bucketFolder, f)}")
                );
        }
        return left;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // What each process wrote, for a failure to be read with the app's side of it.
        foreach (var log in stopped.Concat(running.Select(p => p.Output)))
            output.WriteLine(string.Join('\n', log.Split('\n').TakeLast(30)));
        foreach (var process in running)
            process.Dispose();
        StopBucket();
        Directory.Delete(bucketFolder, recursive: true);
        await using var db = NpgsqlDataSource.Create(
            Campaign.Platform.DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
        );
        await db.CreateCommand($"drop schema if exists {schema} cascade").ExecuteNonQueryAsync();
        await sendGrid.DisposeAsync();
    }
}
