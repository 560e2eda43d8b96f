using System.Net;
using Campaign.Features.Entering;
using Campaign.Mail;
using Marten;

namespace Campaign.Tests.Features.Entering;

/// <summary>
/// The entry form can be given anyone's address: what it mails is bounded per mailbox (however the
/// address is spelled), per recipient domain and in all per hour, and an entry whose mail cannot go
/// is refused (429) with nothing saved.
/// </summary>
[Collection(nameof(CampaignApp))]
public sealed class MailBudgetTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    async Task<List<Entrant>> Entrants()
    {
        await using var session = app.Store.QuerySession();
        return [.. await session.Query<Entrant>().ToListAsync()];
    }

    [Fact]
    public async Task Fifty_variants_of_one_mailbox_at_once_get_its_share_of_mail_and_no_more()
    {
        using var client = app.CreateClient();
        var variants = Enumerable
            .Range(1, 25)
            .Select(i => $"victim+{i}@example.jp")
            .Concat(Enumerable.Range(1, 25).Select(i => $"v.i.c.t.i.m+{i}@GoogleMail.com"))
            .ToList();

        // Two mailboxes, 25 spellings each, all at once.
        var answers = await Task.WhenAll(
            variants.Select(v => client.Enter(v, "あなたの口座が凍結されました"))
        );

        var accepted = answers.Count(a => a.StatusCode == HttpStatusCode.Accepted);
        var refused = answers.Where(a => a.StatusCode != HttpStatusCode.Accepted).ToList();
        Assert.Equal(2 * AddressLock.MailsPerWindow, accepted);
        foreach (var answer in refused)
        {
            var problem = await answer.Problem(HttpStatusCode.TooManyRequests);
            Assert.Equal("/problems/too-many-mails", (string)problem["type"]!);
            Assert.Equal("900", answer.Headers.RetryAfter!.ToString());
        }
        // Nothing saved for a refused entry; every accepted one has its mail, sent.
        Assert.Equal(accepted, (await Entrants()).Count);
        await using var session = app.Store.QuerySession();
        var mail = await session.Query<OutboxMessage>().ToListAsync();
        Assert.Equal(
            [("victim@example.jp", 3), ("victim@gmail.com", 3)],
            mail.GroupBy(m => m.ToKey).Select(g => (g.Key, g.Count())).Order()
        );
        await Eventually.Until(() => Task.FromResult(app.SendGrid.Delivered.Count == accepted));
        Assert.All(
            app.SendGrid.Delivered,
            m => Assert.DoesNotContain("凍結", m.Subject + m.Text, StringComparison.Ordinal)
        );
    }

    [Fact]
    public async Task A_domains_hourly_budget_refuses_the_next_entry_but_big_public_services_count_only_in_all()
    {
        await using var budgeted = CampaignApp.With(
            new()
            {
                ["DATABASE_SCHEMA"] = app.Schema,
                ["UNCONFIRMED_MAIL_PER_DOMAIN_PER_HOUR"] = "3",
                ["UNCONFIRMED_MAIL_PER_HOUR"] = "7",
            }
        );
        budgeted.Clock.At(DateTimeOffset.Parse("2026-12-10T03:10:00Z"));
        using var client = budgeted.CreateClient();

        var corp = new List<HttpStatusCode>();
        foreach (var name in new[] { "a", "b", "c", "d" })
            corp.Add((await client.Enter($"{name}@catch-all.example")).StatusCode);
        var refused = await client.Enter("e@catch-all.example");
        var gmail = new List<HttpStatusCode>();
        foreach (var name in new[] { "a", "b", "c", "d", "e" })
            gmail.Add((await client.Enter($"{name}@gmail.com")).StatusCode);
        budgeted.Clock.Advance(TimeSpan.FromMinutes(50)); // the next hour
        var nextHour = await client.Enter("f@catch-all.example");

        Assert.Equal(
            [.. Enumerable.Repeat(HttpStatusCode.Accepted, 3), HttpStatusCode.TooManyRequests],
            corp
        );
        await refused.Problem(HttpStatusCode.TooManyRequests);
        // 03:10 → 04:00, less the seconds the test's own entries took on the running clock.
        Assert.InRange(int.Parse(refused.Headers.RetryAfter!.ToString()), 2940, 3000);
        // gmail.com has no budget of its own: its entries stop only at the total of 7.
        Assert.Equal(
            [.. Enumerable.Repeat(HttpStatusCode.Accepted, 4), HttpStatusCode.TooManyRequests],
            gmail
        );
        Assert.Equal(HttpStatusCode.Accepted, nextHour.StatusCode);
        Assert.Equal(8, (await Entrants()).Count);
    }

    [Fact]
    public async Task While_Redis_fails_the_budgets_are_counted_in_the_process_never_lifted()
    {
        await using var redisDown = CampaignApp.With(
            new()
            {
                ["DATABASE_SCHEMA"] = app.Schema,
                ["REDIS_URL"] = "redis://127.0.0.1:1",
                ["UNCONFIRMED_MAIL_PER_DOMAIN_PER_HOUR"] = "2",
            }
        );
        using var client = redisDown.CreateClient();

        var answers = new List<HttpStatusCode>();
        foreach (var name in new[] { "a", "b", "c" })
            answers.Add((await client.Enter($"{name}@redis-down.example")).StatusCode);

        Assert.Equal(
            [HttpStatusCode.Accepted, HttpStatusCode.Accepted, HttpStatusCode.TooManyRequests],
            answers
        );
        Assert.Equal(2, (await Entrants()).Count);
    }
}
