using System.Diagnostics;
using System.Net;

namespace Campaign.Tests;

/// <summary>
/// What each route answers while a backing service is down or hung, and that everything comes back
/// by itself when it returns. These tests stop their own PostgreSQL and Redis (started by bin/test
/// for them alone), so they run alone.
/// </summary>
[CollectionDefinition(nameof(FailureTests), DisableParallelization = true)]
public sealed class FailureCollection;

[Collection(nameof(FailureTests))]
public sealed class FailureTests : IAsyncLifetime
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    readonly SendGridStub sendGrid = new();
    PublishedApp? web;
    string url = "";

    static string Fault(string name) =>
        System.Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{name} is not set: run the tests with bin/test."
            );

    static void Control(string action, string service)
    {
        using var process = Process.Start(Fault("FAULT_CONTROL"), [action, service]);
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    Dictionary<string, string?> Environment()
    {
        var environment = TestServices.Heroku("web.1", "public", sendGrid.Url);
        environment["DATABASE_URL"] = Fault("FAULT_DATABASE_URL");
        environment["REDIS_URL"] = Fault("FAULT_REDIS_URL");
        return environment;
    }

    public async Task InitializeAsync()
    {
        await PublishedApp.ReleasePhase(Environment());
        var port = PublishedApp.FreePort();
        web = new PublishedApp(Environment(), "--urls", $"http://*:{port}");
        await web.WaitForOutput("Now listening on", Patience);
        url = $"http://127.0.0.1:{port}";
    }

    async Task<Visitor> SignedInVisitor(string email)
    {
        var visitor = new Visitor();
        await visitor.PostJson(
            $"{url}/api/v1/entries",
            new
            {
                email,
                displayName = "障害 太郎",
                consent = true,
            }
        );
        var token = (await sendGrid.WaitForMail(email)).Token;
        Assert.Equal(
            HttpStatusCode.NoContent,
            (await visitor.PostJson($"{url}/api/v1/session", new { token })).StatusCode
        );
        return visitor;
    }

    /// <summary>The status, and that the answer came well before the router's 30 s.</summary>
    static async Task<HttpStatusCode> Answer(
        Task<HttpResponseMessage> request,
        double withinSeconds
    )
    {
        var watch = Stopwatch.StartNew();
        var response = await request;
        Assert.True(
            watch.Elapsed.TotalSeconds < withinSeconds,
            $"answered in {watch.Elapsed.TotalSeconds:0.0} s"
        );
        return response.StatusCode;
    }

    [Fact]
    public async Task With_Redis_hung_answers_come_fast_entering_still_works_and_sessions_return_with_Redis()
    {
        using var visitor = await SignedInVisitor("redis.hang@example.jp");
        using var anonymous = new Visitor("203.0.113.99");

        Control("hang", "redis");
        try
        {
            Assert.Equal(HttpStatusCode.OK, await Answer(anonymous.Get($"{url}/healthz"), 1));
            Assert.Equal(
                HttpStatusCode.ServiceUnavailable,
                await Answer(anonymous.Get($"{url}/readyz"), 3)
            );
            Assert.Equal(HttpStatusCode.OK, await Answer(anonymous.Get($"{url}/"), 3));
            Assert.Equal(
                HttpStatusCode.Accepted,
                await Answer(
                    anonymous.PostJson(
                        $"{url}/api/v1/entries",
                        new
                        {
                            email = "during@example.jp",
                            displayName = "最中",
                            consent = true,
                        }
                    ),
                    3
                )
            );
            Assert.Equal(
                HttpStatusCode.ServiceUnavailable,
                await Answer(visitor.Get($"{url}/api/v1/me"), 3)
            );
            Assert.Equal(
                HttpStatusCode.ServiceUnavailable,
                await Answer(visitor.Get($"{url}/me"), 3)
            );
        }
        finally
        {
            Control("resume", "redis");
        }

        await Eventually(async () =>
            (await anonymous.Get($"{url}/readyz")).StatusCode == HttpStatusCode.OK
        );
        Assert.Equal(HttpStatusCode.OK, (await visitor.Get($"{url}/api/v1/me")).StatusCode);
    }

    [Fact]
    public async Task With_PostgreSQL_down_entering_answers_503_the_landing_page_answers_and_all_returns_with_it()
    {
        using var visitor = new Visitor("203.0.113.98");

        Control("stop", "postgres");
        try
        {
            Assert.Equal(HttpStatusCode.OK, await Answer(visitor.Get($"{url}/healthz"), 1));
            Assert.Equal(
                HttpStatusCode.ServiceUnavailable,
                await Answer(visitor.Get($"{url}/readyz"), 4)
            );
            Assert.Equal(HttpStatusCode.OK, await Answer(visitor.Get($"{url}/"), 5));
            Assert.Equal(
                HttpStatusCode.ServiceUnavailable,
                await Answer(
                    visitor.PostJson(
                        $"{url}/api/v1/entries",
                        new
                        {
                            email = "lost@example.jp",
                            displayName = "停止中",
                            consent = true,
                        }
                    ),
                    5
                )
            );
        }
        finally
        {
            Control("start", "postgres");
        }

        await Eventually(async () =>
            (await visitor.Get($"{url}/readyz")).StatusCode == HttpStatusCode.OK
        );
        Assert.Equal(
            HttpStatusCode.Accepted,
            (
                await visitor.PostJson(
                    $"{url}/api/v1/entries",
                    new
                    {
                        email = "after@example.jp",
                        displayName = "復旧後",
                        consent = true,
                    }
                )
            ).StatusCode
        );
    }

    [Fact]
    public async Task A_web_process_started_with_PostgreSQL_down_says_its_warm_up_failed_answers_and_enters_once_it_is_back()
    {
        Control("stop", "postgres");
        var down = true;
        PublishedApp? started = null;
        try
        {
            var port = PublishedApp.FreePort();
            started = new PublishedApp(Environment(), "--urls", $"http://*:{port}");
            await started.WaitForOutput("Now listening on", Patience);
            await started.WaitForOutput("warm-up: done in ms=", Patience);
            Assert.Contains("warn Campaign.WarmUp: warm-up: postgres failed (", started.Output);
            Assert.Contains("warn Campaign.WarmUp: warm-up: sign-in mail failed (", started.Output);
            using var visitor = new Visitor("203.0.113.97");
            // The process's first request (its code compiled as it runs): over 1 s at times on a
            // busy machine, and still under the 3 s that a wait for PostgreSQL's connection takes.
            Assert.Equal(
                HttpStatusCode.OK,
                await Answer(visitor.Get($"http://127.0.0.1:{port}/healthz"), 2.5)
            );
            Control("start", "postgres");
            down = false;

            // The templates the warm-up could not store are stored by the first entry.
            await Eventually(async () =>
                (
                    await visitor.PostJson(
                        $"http://127.0.0.1:{port}/api/v1/entries",
                        new
                        {
                            email = "warm@example.jp",
                            displayName = "起動時停止",
                            consent = true,
                        }
                    )
                ).StatusCode == HttpStatusCode.Accepted
            );
            Assert.NotNull(await sendGrid.WaitForMail("warm@example.jp"));
        }
        finally
        {
            if (down)
                Control("start", "postgres");
            started?.Dispose();
        }
    }

    static async Task Eventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "did not recover within 20 s");
            await Task.Delay(250);
        }
    }

    public async Task DisposeAsync()
    {
        if (web is not null)
        {
            web.Terminate();
            await web.WaitForExit(TimeSpan.FromSeconds(25));
            web.Dispose();
        }
        await sendGrid.DisposeAsync();
    }
}
