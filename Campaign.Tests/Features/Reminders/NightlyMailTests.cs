using Campaign.Features.Entering;
using Campaign.Features.Photos;
using Campaign.Features.Reminders;
using Campaign.Mail;
using Campaign.Platform;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Snapshooter;
using Snapshooter.Xunit;

namespace Campaign.Tests.Features.Reminders;

[Collection(nameof(CampaignApp))]
public sealed class NightlyMailTests(CampaignApp app) : IAsyncLifetime
{
    // The instant of these tests: 20:00 in Tokyo on 1 December 2026, that night's send time. Each
    // test runs the app's clock from there (or from an instant it names), so that the reminders
    // it writes are judged by the night they were written for, whatever the date of the run.
    static readonly DateTimeOffset SendTime = DateTimeOffset.Parse("2026-12-01T11:00:00Z");
    static readonly DateOnly Night = new(2026, 12, 1);

    // Entrants confirmed the day before.
    static readonly DateTimeOffset Entered = SendTime - TimeSpan.FromHours(32);

    public async Task InitializeAsync()
    {
        await app.ResetAsync();
        app.Clock.At(SendTime);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    Settings Settings => app.Services.GetRequiredService<Settings>();

    RunNightlyMail Runner => ActivatorUtilities.CreateInstance<RunNightlyMail>(app.Services);

    void At(string instant) => app.Clock.At(DateTimeOffset.Parse(instant));

    async Task<List<Entrant>> Entrants(int count, Action<Entrant>? shape = null)
    {
        var now = Entered;
        var entrants = Enumerable
            .Range(0, count)
            .Select(i =>
            {
                var entrant = Entrant.Enter(
                    new EntryInput(
                        $"n{i}-{Guid.NewGuid():N}@example.jp",
                        $"夜 {i}",
                        i % 2 == 0 ? "ja" : "en",
                        true
                    ),
                    now
                );
                entrant.Confirm(now);
                shape?.Invoke(entrant);
                return entrant;
            })
            .ToList();
        await app.Store.BulkInsertAsync(entrants);
        return entrants;
    }

    async Task<List<OutboxMessage>> Reminders()
    {
        await using var session = app.Store.QuerySession();
        return
        [
            .. await session
                .Query<OutboxMessage>()
                .Where(m => m.Kind == MailKind.Campaign)
                .ToListAsync(),
        ];
    }

    [Theory]
    [InlineData("2026-12-01T10:59:00Z", false)] // 19:59 in Tokyo
    [InlineData("2026-12-01T11:00:00Z", true)] // 20:00 in Tokyo
    [InlineData("2026-12-01T14:59:00Z", true)] // 23:59 in Tokyo, still the same night
    public void Twenty_hundred_in_Tokyo_is_eleven_hundred_UTC(string utc, bool past)
    {
        var (night, pastSendTime) = NightlyReminder.Tonight(DateTimeOffset.Parse(utc), Settings);

        Assert.Equal((Night, past), (night, pastSendTime));
        Assert.Equal(
            DateTimeOffset.Parse("2026-12-01T11:00:00Z"),
            NightlyReminder.SendTimeOf(Night, Settings)
        );
    }

    [Fact]
    public async Task Only_confirmed_entrants_without_a_photo_who_asked_for_campaign_mail_are_reminded()
    {
        var reminded = await Entrants(1);
        await Entrants(1, e => e.Status = EntrantStatus.Pending);
        await Entrants(1, e => e.CampaignMail = false);
        await Entrants(1, e => e.Photo = new Photo("k", "image/png", 1, Entered));
        // Stored before the address rules (or restored from an old file): never put in a batch.
        await Entrants(1, e => e.Email = "taro..yamada@docomo.ne.jp");

        var outcome = await Runner.Run(Night, dryRun: false, progress: null, default);

        var reminder = Assert.Single(await Reminders());
        Assert.Equal((1, 1), (outcome.Qualifying, outcome.Enqueued));
        Assert.Equal(
            (reminded[0].Id, $"reminder:2026-12-01:{reminded[0].Id}"),
            (reminder.EntrantId, reminder.DedupKey)
        );
        // The body is stored once per language, not with each reminder.
        Assert.Equal((null, null), (reminder.Html, reminder.Text));
        await using var query = app.Store.QuerySession();
        var template = await query.LoadAsync<MailTemplate>(reminder.Template!);
        Assert.Equal("reminder:2026-12-01:ja", template!.Id);
        Assert.Contains("https://campaign.example.test/me", template.Text);
    }

    [Fact]
    public async Task A_re_run_enqueues_nothing_new_even_when_its_record_was_lost()
    {
        await Entrants(30);
        await Runner.Run(Night, dryRun: false, progress: null, default);
        await using (var session = app.Session())
        {
            session.Delete<NightlyRun>(NightlyRun.IdOf(Night)); // as if the run had never been recorded
            await session.SaveChangesAsync();
        }

        await Runner.Run(Night, dryRun: false, progress: null, default);
        await Runner.Run(Night, dryRun: false, progress: null, default);

        Assert.Equal(30, (await Reminders()).Count);
    }

    [Fact]
    public async Task Two_runs_at_once_enqueue_each_reminder_once()
    {
        await Entrants(3000);

        var outcomes = await Task.WhenAll(
            Runner.Run(Night, dryRun: false, progress: null, default),
            Runner.Run(Night, dryRun: false, progress: null, default)
        );

        Assert.Equal(3000, (await Reminders()).Count);
        Assert.Equal(3000, outcomes.Sum(o => o.Enqueued));
    }

    [Fact]
    public async Task A_run_stopped_mid_batch_resumes_where_it_stopped()
    {
        await Entrants(2500);
        using var stop = new CancellationTokenSource();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            Runner.Run(Night, dryRun: false, progress: done => stop.Cancel(), stop.Token)
        );
        var afterStop = (await Reminders()).Count;
        NightlyRun? stopped;
        await using (var query = app.Store.QuerySession())
            stopped = await query.LoadAsync<NightlyRun>(NightlyRun.IdOf(Night));
        var resumed = await Runner.Run(Night, dryRun: false, progress: null, default);

        Assert.Equal(RunNightlyMail.PageSize, afterStop);
        Assert.Equal(1500, resumed.Qualifying); // only what the first run had not reached
        Assert.Equal(2500, (await Reminders()).Count);
        // The cursor (an entrant's id) is kept while the run is incomplete, and not after.
        Assert.NotEqual(Guid.Empty, stopped!.Cursor);
        await using var session = app.Store.QuerySession();
        var completed = await session.LoadAsync<NightlyRun>(NightlyRun.IdOf(Night));
        Assert.Equal((true, Guid.Empty), (completed!.CompletedAt is not null, completed.Cursor));
    }

    [Fact]
    public async Task A_dry_run_counts_and_writes_nothing()
    {
        await Entrants(12);

        var outcome = await Runner.Run(Night, dryRun: true, progress: null, default);

        Assert.Equal((12, 0), (outcome.Qualifying, outcome.Enqueued));
        Assert.Empty(await Reminders());
        await using var session = app.Store.QuerySession();
        Assert.Null(await session.LoadAsync<NightlyRun>(NightlyRun.IdOf(Night)));
    }

    [Theory]
    [InlineData("2026-12-01T10:59:00Z", 0)] // 19:59 JST: not yet
    [InlineData("2026-12-01T11:07:00Z", 5)] // a clock that booted at 20:07 catches up
    public async Task The_clock_runs_tonights_batch_once_its_send_time_has_passed(
        string now,
        int reminders
    )
    {
        await Entrants(5);
        At(now);

        await ActivatorUtilities
            .CreateInstance<NightlyMailJob>(app.Services, app.Store.QuerySession())
            .Invoke();
        await ActivatorUtilities
            .CreateInstance<NightlyMailJob>(app.Services, app.Store.QuerySession())
            .Invoke();

        Assert.Equal(reminders, (await Reminders()).Count);
    }

    [Fact]
    public async Task A_reminder_whose_entrant_added_a_photo_meanwhile_is_dropped_at_send_time()
    {
        var entrant = (await Entrants(1))[0];
        At("2026-12-01T11:00:00Z");
        await Runner.Run(Night, dryRun: false, progress: null, default);
        await using (var session = app.Session())
        {
            entrant.Photo = new Photo("k", "image/png", 1, app.Clock.GetUtcNow());
            session.Update(entrant);
            await session.SaveChangesAsync();
        }

        At("2026-12-01T11:05:00Z");
        await app.Services.GetRequiredService<MailRelay>().SweepAsync();

        var reminder = Assert.Single(await Reminders());
        Assert.Equal(
            (OutboxStatus.Dropped, "entrant no longer qualifies"),
            (reminder.Status, reminder.LastError)
        );
        Assert.Empty(app.SendGrid.Requests);
    }

    [Fact]
    public async Task Reminders_are_sent_by_the_sweep_and_the_operator_gets_the_days_numbers()
    {
        await using var withOperator = CampaignApp.With(
            new() { ["OPERATOR_EMAIL"] = "ops@example.jp", ["DATABASE_SCHEMA"] = app.Schema }
        );
        withOperator.Clock.At(SendTime);
        await Entrants(3);
        var runner = ActivatorUtilities.CreateInstance<RunNightlyMail>(withOperator.Services);

        var outcome = await runner.Run(Night, dryRun: false, progress: null, default);
        app.Clock.Advance(TimeSpan.FromMinutes(2));
        await app.Services.GetRequiredService<MailRelay>().SweepAsync();

        Assert.Equal((true, 3, true), (outcome.Ran, outcome.Enqueued, outcome.SummaryWritten));
        Assert.Equal(
            3,
            app.SendGrid.Mails.Count(r =>
                r.Subject.Contains("プロフィール写真") || r.Subject.Contains("profile photo")
            )
        );
        var summary = Assert.Single(app.SendGrid.MailsTo("ops@example.jp"));
        Assert.Contains("リマインダ / Reminders queued: 3", summary.Text);
    }

    [Theory]
    [InlineData("ja")]
    [InlineData("en")]
    public void The_reminder_as_rendered(string locale)
    {
        var mail = NightlyReminder.Render(
            locale,
            new Uri("https://campaign.example.test/me"),
            Settings
        );
        var values = NightlyReminder.Substitutions(
            "山田 <太郎>",
            new Uri("https://campaign.example.test/unsubscribe/TOKEN")
        );
        string Apply(string text, string name) =>
            text.Replace(name, values[name])
                .Replace(NightlyReminder.UnsubscribeLink, values[NightlyReminder.UnsubscribeLink]);

        Snapshot.Match(
            $"Subject: {mail.Subject}\n\n{Apply(mail.Text, NightlyReminder.NameInText)}"
                + $"\n----- HTML -----\n{Apply(mail.Html, NightlyReminder.NameInHtml)}",
            new SnapshotNameExtension(locale)
        );
    }

    [Fact]
    public async Task Reminders_go_to_SendGrid_a_thousand_recipients_per_request_one_template_per_language()
    {
        await Entrants(2500); // half Japanese, half English
        await Runner.Run(Night, dryRun: false, progress: null, default);

        app.Clock.Advance(TimeSpan.FromMinutes(2));
        await app.Services.GetRequiredService<MailRelay>().SweepAsync();

        Assert.Equal(2500, app.SendGrid.Mails.Select(m => m.OutboxId).Distinct().Count());
        Assert.Equal(
            [250, 250, 1000, 1000],
            app.SendGrid.Requests.Select(r =>
                    ((Newtonsoft.Json.Linq.JArray)r.Body["personalizations"]!).Count
                )
                .Order()
        );
        Assert.All((await Reminders()), r => Assert.Equal(OutboxStatus.Sent, r.Status));
    }

    [Fact]
    public async Task One_request_as_SendGrid_receives_it()
    {
        var now = Entered;
        var entrants = new[] { ("hanako@example.jp", "山田 花子"), ("ken@example.jp", "佐藤 <健>") }
            .Select(
                (e, i) =>
                {
                    var entrant = Entrant.Enter(new EntryInput(e.Item1, e.Item2, "ja", true), now);
                    entrant.Id = Guid.Parse($"00000000-0000-0000-0000-00000000000{i + 1}");
                    entrant.Confirm(now);
                    return entrant;
                }
            )
            .ToList();
        await app.Store.BulkInsertAsync(entrants);
        await Runner.Run(Night, dryRun: false, progress: null, default);

        app.Clock.Advance(TimeSpan.FromMinutes(2));
        await app.Services.GetRequiredService<MailRelay>().SweepAsync();

        var body = (Newtonsoft.Json.Linq.JObject)
            Assert.Single(app.SendGrid.Requests).Body.DeepClone();
        foreach (var personalization in body["personalizations"]!)
        {
            // Each recipient's own signed unsubscribe link, in the body and in the one-click header.
            var link = (string)personalization["substitutions"]!["-unsubscribe-"]!;
            Assert.StartsWith("https://campaign.example.test/unsubscribe/", link);
            Assert.Equal($"<{link}>", (string)personalization["headers"]!["List-Unsubscribe"]!);
            personalization["substitutions"]!["-unsubscribe-"] = "(a signed link, checked above)";
            personalization["headers"]!["List-Unsubscribe"] = "(the same link, checked above)";
        }
        Snapshot.Match(body);
    }

    [Fact]
    public async Task One_address_SendGrid_refuses_does_not_sink_the_batch()
    {
        var entrants = await Entrants(20, e => e.Locale = "ja");
        app.SendGrid.Rejects = entrants[13].Email;
        await Runner.Run(Night, dryRun: false, progress: null, default);

        app.Clock.Advance(TimeSpan.FromMinutes(2));
        await app.Services.GetRequiredService<MailRelay>().SweepAsync();

        var reminders = await Reminders();
        var failed = Assert.Single(reminders, r => r.Status == OutboxStatus.Failed);
        Assert.Equal(
            (entrants[13].Id, "SendGrid answered 400"),
            (failed.EntrantId, failed.LastError)
        );
        Assert.Equal(19, reminders.Count(r => r.Status == OutboxStatus.Sent));
    }
}
