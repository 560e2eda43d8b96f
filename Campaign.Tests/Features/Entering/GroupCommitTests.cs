using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Npgsql;

namespace Campaign.Tests.Features.Entering;

/// <summary>
/// Group commit as deployed: the published app's web processes, in Production settings, on one
/// PostgreSQL, under bursts of concurrent entries. What is promised for one entry holds for a batch:
/// one entrant per address across dynos, the mailbox's share of mails, and every accepted entry
/// mailed, even when its process is killed.
/// </summary>
public sealed partial class GroupCommitTests : IAsyncLifetime
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    readonly string schema = $"batch_{Guid.NewGuid():N}"[..18];
    readonly string domain = $"b{Guid.NewGuid():N}"[..9] + ".example.jp";
    readonly SendGridStub sendGrid = new();
    readonly NpgsqlDataSource db = NpgsqlDataSource.Create(
        Campaign.Platform.DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
    );

    Dictionary<string, string?> Environment(string dyno)
    {
        var environment = TestServices.Heroku(dyno, schema, sendGrid.Url, redisDatabase: 5);
        // All the load comes from one client address here.
        environment["RATE_LIMIT_PER_MINUTE"] = "0";
        return environment;
    }

    async Task<(PublishedApp Process, string Url)> StartWeb(
        string dyno,
        Dictionary<string, string?>? environment = null
    )
    {
        var port = PublishedApp.FreePort();
        var web = new PublishedApp(environment ?? Environment(dyno), "--urls", $"http://*:{port}");
        await web.WaitForOutput("Now listening on", Patience);
        return (web, $"http://127.0.0.1:{port}");
    }

    static async Task<HttpStatusCode> Enter(HttpClient http, string url, string email)
    {
        using var answer = await http.PostAsJsonAsync(
            $"{url}/api/v1/entries",
            new
            {
                email,
                displayName = "同時 花子",
                consent = true,
            }
        );
        return answer.StatusCode;
    }

    static HttpClient Client()
    {
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 });
        http.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        return http;
    }

    /// <summary>The sizes of the batches a process logged (<c>measure#campaign.entry_batch=N</c>).</summary>
    static List<int> Batches(PublishedApp web) =>
        BatchLine().Matches(web.Output).Select(m => int.Parse(m.Groups[1].Value)).ToList();

    [GeneratedRegex(@"measure#campaign\.entry_batch=(\d+)")]
    private static partial Regex BatchLine();

    [GeneratedRegex(@"count#campaign\.entries=(\d+)")]
    private static partial Regex EntriesLine();

    [Fact]
    public async Task Two_web_processes_batching_overlapping_addresses_at_once_keep_one_entrant_per_address_without_deadlock()
    {
        await PublishedApp.ReleasePhase(Environment("release.1"));
        var deadlocksBefore = await Deadlocks();
        var (one, oneUrl) = await StartWeb("web.1");
        var (two, twoUrl) = await StartWeb("web.2");
        using (one)
        using (two)
        {
            // Forty addresses, each entered four times at once: twice on each process, in two
            // spellings of its letter case, in an order shuffled the same way on every run.
            var addresses = Enumerable.Range(0, 40).Select(i => $"overlap{i}@{domain}").ToList();
            var requests = addresses
                .SelectMany(a =>
                    new[]
                    {
                        (oneUrl, a),
                        (twoUrl, a),
                        (oneUrl, a.ToUpperInvariant()),
                        (twoUrl, a.ToUpperInvariant()),
                    }
                )
                .ToArray();
            new Random(20).Shuffle(requests);
            using var http = Client();
            var answers = await Task.WhenAll(requests.Select(r => Enter(http, r.Item1, r.Item2)));

            // PostgreSQL detected no deadlock while the two processes wrote. They are stopped first
            // (SIGTERM, as on a restart), so that their backends end and report what they counted.
            var backends = await Backends();
            one.Terminate();
            two.Terminate();
            await one.WaitForExit(Patience);
            await two.WaitForExit(Patience);
            await BackendsGone(backends);
            var deadlocks = await Deadlocks() - deadlocksBefore;
            Assert.True(deadlocks == 0, $"PostgreSQL detected {deadlocks} deadlock(s) (40P01)");
            // Every entry answered 202: a deadlock (40P01) would have failed a batch with 503.
            Assert.All(answers, status => Assert.Equal(HttpStatusCode.Accepted, status));
            Assert.DoesNotContain("40P01", one.Output + two.Output);
            Assert.DoesNotContain("deadlock", one.Output + two.Output);
            // Both processes did batch: entries waited for one another and were written together.
            Assert.Contains(Batches(one), size => size > 1);
            Assert.Contains(Batches(two), size => size > 1);
            Assert.Equal(requests.Length, Batches(one).Sum() + Batches(two).Sum());

            // One entrant per address, and each mailbox its share of three mails, not four.
            var entrants = await Rows(
                $"select lower(data ->> 'email'), count(*) from {schema}.mt_doc_entrant group by 1"
            );
            Assert.Equal(addresses.Order(), entrants.Keys.Order());
            Assert.All(entrants.Values, count => Assert.Equal(1, count));
            var mails = await Rows(
                $"select to_key, count(*) from {schema}.mt_doc_outboxmessage group by 1"
            );
            Assert.Equal(addresses.Order(), mails.Keys.Order());
            Assert.All(mails.Values, count => Assert.Equal(3, count));
            Assert.Equal(
                addresses.Count,
                EntriesLine()
                    .Matches(one.Output + two.Output)
                    .Sum(m => int.Parse(m.Groups[1].Value))
            );
        }
    }

    [Fact]
    public async Task Entries_accepted_by_a_process_killed_mid_burst_are_all_mailed()
    {
        await PublishedApp.ReleasePhase(Environment("release.1"));
        var (web, url) = await StartWeb("web.1");
        using (web)
        {
            var accepted = new ConcurrentBag<string>();
            var answered = 0;
            using var http = Client();
            // Sixty-four clients, each entering one new address after another until the process
            // is gone: the kill lands with entries arriving, waiting and being written.
            var clients = Enumerable
                .Range(0, 64)
                .Select(async client =>
                {
                    for (var n = 0; n < 1000; n++) // bounded, should the kill never come
                    {
                        var email = $"burst{client}-{n}@{domain}";
                        try
                        {
                            if (await Enter(http, url, email) != HttpStatusCode.Accepted)
                                continue;
                        }
                        catch (HttpRequestException)
                        {
                            return; // Cut off by the kill: not accepted, so nothing is promised.
                        }
                        accepted.Add(email);
                        if (Interlocked.Increment(ref answered) == 60)
                            web.Kill();
                    }
                });
            await Task.WhenAll(clients);
            Assert.True(accepted.Count >= 60, $"{accepted.Count} accepted");

            // Minutes pass (and the leases the dead process held run out): the sweep's turn.
            await db.CreateCommand(
                    $"update {schema}.mt_doc_outboxmessage set created_at = created_at - interval '3 minutes', claimed_until = claimed_until - interval '3 minutes'"
                )
                .ExecuteNonQueryAsync();
            using var drain = new PublishedApp(Environment("run.1"), "outbox-drain");
            Assert.True(await drain.WaitForExit(Patience) == 0, drain.Output);

            var mailed = sendGrid.Delivered.Select(m => m.To).ToHashSet();
            Assert.All(accepted, email => Assert.Contains(email, mailed));
            var entrants = await Rows(
                $"select lower(data ->> 'email'), count(*) from {schema}.mt_doc_entrant group by 1"
            );
            Assert.All(accepted, email => Assert.Equal(1, entrants.GetValueOrDefault(email)));
        }
    }

    /// <summary>
    /// The deadlocks PostgreSQL has detected in this database since its statistics were reset
    /// (<c>pg_stat_database.deadlocks</c>, readable by any user). The count is read instead of the
    /// server's log, where each deadlock is also written (40P01): the log is a file of the server,
    /// which a test cannot read when the services are given to it (Heroku CI's in-dyno database).
    /// The count is database-wide: no test of the suite expects a deadlock anywhere.
    /// </summary>
    async Task<long> Deadlocks() =>
        (long)
            (
                await db.CreateCommand(
                        "select deadlocks from pg_stat_database where datname = current_database()"
                    )
                    .ExecuteScalarAsync()
            )!;

    /// <summary>The PostgreSQL backends that serve the web processes' connections now.</summary>
    async Task<int[]> Backends()
    {
        await using var query = db.CreateCommand(
            "select coalesce(array_agg(pid), '{}') from pg_stat_activity where datname = current_database() and application_name = any($1)"
        );
        query.Parameters.Add(new() { Value = new[] { "campaign web.1", "campaign web.2" } });
        return (int[])(await query.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// Waits until every backend of <paramref name="pids"/> has ended, or eleven seconds have passed.
    /// A backend keeps the deadlocks it detects in memory and adds them to <c>pg_stat_database</c>
    /// later: always when it ends; else when a transaction ends a second or more after its last
    /// report, or after ten idle seconds (PGSTAT_MIN_INTERVAL and PGSTAT_IDLE_INTERVAL, PostgreSQL
    /// 15 and later). The web processes' backends end as soon as the processes are gone; another
    /// test's backends with the same application name may live on, hence the bound.
    /// https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-STATS-VIEWS
    /// </summary>
    async Task BackendsGone(int[] pids)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(11);
        await using var query = db.CreateCommand(
            "select count(*) from pg_stat_activity where pid = any($1)"
        );
        query.Parameters.Add(new() { Value = pids });
        while ((long)(await query.ExecuteScalarAsync())! > 0 && DateTime.UtcNow < deadline)
            await Task.Delay(100);
    }

    async Task<Dictionary<string, long>> Rows(string sql)
    {
        var rows = new Dictionary<string, long>();
        await using var reader = await db.CreateCommand(sql).ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows[reader.GetString(0)] = reader.GetInt64(1);
        return rows;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await db.CreateCommand($"drop schema if exists {schema} cascade").ExecuteNonQueryAsync();
        await db.DisposeAsync();
        await sendGrid.DisposeAsync();
    }
}
