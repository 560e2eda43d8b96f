using System.Net;
using Campaign.Features.Entering;
using Campaign.Features.Privacy;
using Campaign.Features.Reminders;
using Campaign.Mail;
using Marten;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;

namespace Campaign.Tests.Features.Privacy;

/// <summary>Campaign mail stops, without signing in, by the link or the mailbox's one-click button.</summary>
[Collection(nameof(CampaignApp))]
public sealed class UnsubscribeTests(CampaignApp app) : IAsyncLifetime
{
    // 20:00 in Tokyo on the night of these tests, its send time: the app's clock runs from there,
    // so that a reminder is still due when a test sweeps the outbox, whatever the date of the run.
    static readonly DateTimeOffset SendTime = DateTimeOffset.Parse("2026-12-01T11:00:00Z");
    static readonly DateOnly Night = new(2026, 12, 1);

    public async Task InitializeAsync()
    {
        await app.ResetAsync();
        app.Clock.At(SendTime);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    RunNightlyMail Runner => ActivatorUtilities.CreateInstance<RunNightlyMail>(app.Services);

    async Task<(Entrant Entrant, string Link)> RemindedEntrant()
    {
        var now = SendTime - TimeSpan.FromHours(32);
        var entrant = Entrant.Enter(
            new EntryInput("news@example.jp", "お知らせ 希望", "ja", true),
            now
        );
        entrant.Confirm(now);
        await app.Store.BulkInsertAsync([entrant]);
        await Runner.Run(Night, dryRun: false, progress: null, default);
        await using var session = app.Store.QuerySession();
        var reminder = await session
            .Query<OutboxMessage>()
            .SingleAsync(m => m.Kind == MailKind.Campaign);
        return (entrant, reminder.Substitutions![NightlyReminder.UnsubscribeLink]);
    }

    async Task<bool> WantsCampaignMail(Guid id)
    {
        await using var session = app.Store.QuerySession();
        return (await session.LoadAsync<Entrant>(id))!.CampaignMail;
    }

    [Fact]
    public async Task The_link_shows_a_button_and_the_button_unsubscribes_and_the_next_night_skips_them()
    {
        var (entrant, link) = await RemindedEntrant();
        using var client = app.CreateClient();
        var path = new Uri(link).AbsolutePath;

        var page = await client.GetAsync(path);
        var stillSubscribed = await WantsCampaignMail(entrant.Id);
        var done = await client.PostAsync(path, null);
        var nextNight = await Runner.Run(Night.AddDays(1), dryRun: false, progress: null, default);

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("配信を停止する", await page.Content.ReadAsStringAsync());
        Assert.True(stillSubscribed); // opening the link (a mail scanner does) changes nothing
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.Contains("配信を停止しました", await done.Content.ReadAsStringAsync());
        Assert.False(await WantsCampaignMail(entrant.Id));
        Assert.Equal(0, nextNight.Qualifying);
        // On record by the address's hash, for a restore of an older export (ImportCommand).
        await using var session = app.Store.QuerySession();
        var record = await session.LoadAsync<Unsubscription>(
            Campaign.Features.Backup.Withdrawal.IdOf(entrant.Email)
        );
        Assert.True(record!.Overrides(entrant));
    }

    [Fact]
    public async Task The_one_click_post_of_a_mailbox_provider_unsubscribes_and_the_queued_reminder_is_dropped()
    {
        var (entrant, link) = await RemindedEntrant();
        using var provider = new HttpClient(app.Server.CreateHandler())
        {
            BaseAddress = new Uri("https://localhost"),
        };

        var response = await provider.PostAsync(
            new Uri(link).AbsolutePath,
            new FormUrlEncodedContent(
                new Dictionary<string, string> { ["List-Unsubscribe"] = "One-Click" }
            )
        );
        app.Clock.Advance(TimeSpan.FromMinutes(2));
        await app.Services.GetRequiredService<MailRelay>().SweepAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(await WantsCampaignMail(entrant.Id));
        // Not sent, and for the unsubscribe: the reminder was due and is dropped for it.
        Assert.Empty(app.SendGrid.Requests);
        await using var session = app.Store.QuerySession();
        var reminder = await session
            .Query<OutboxMessage>()
            .SingleAsync(m => m.Kind == MailKind.Campaign);
        Assert.Equal(
            (OutboxStatus.Dropped, "entrant no longer qualifies"),
            (reminder.Status, reminder.LastError)
        );
    }

    [Fact]
    public async Task A_link_is_short_and_names_its_entrant_only_with_the_key()
    {
        var (entrant, link) = await RemindedEntrant();
        var token = new Uri(link).Segments[^1];
        var secret = await app.Services.GetRequiredService<UnsubscribeKey.Store>().Current(default);

        Assert.Equal(43, token.Length);
        Assert.Equal(entrant.Id, UnsubscribeKey.EntrantOf(secret, token));
        Assert.Null(UnsubscribeKey.EntrantOf(new byte[32], token));
    }

    [Fact]
    public async Task A_link_in_a_mail_sent_before_the_links_were_shortened_still_works()
    {
        var (entrant, _) = await RemindedEntrant();
        // The earlier links carried a data-protection token.
        var old = app
            .Services.GetRequiredService<IDataProtectionProvider>()
            .CreateProtector("Campaign.Unsubscribe")
            .Protect(entrant.Id.ToString("N"));
        using var client = app.CreateClient();

        var response = await client.PostAsync($"/unsubscribe/{old}", null);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(await WantsCampaignMail(entrant.Id));
    }

    [Theory]
    [InlineData("/unsubscribe/not-a-token")]
    [InlineData("/unsubscribe/CfDJ8AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    // The shape of a link's token (an id and its signature) with a signature that does not match.
    [InlineData("/unsubscribe/v4cCADKLVUO84omUPI35GbQ-lJlt5ZwUE8GTgfWOAbk")]
    public async Task A_forged_link_is_refused_with_a_page_and_changes_nothing(string path)
    {
        using var client = app.CreateClient();

        var get = await client.GetAsync(path);
        var post = await client.PostAsync(path, null);

        Assert.Equal(
            (HttpStatusCode.BadRequest, HttpStatusCode.BadRequest),
            (get.StatusCode, post.StatusCode)
        );
        Assert.Contains("リンクが正しくありません", await post.Content.ReadAsStringAsync());
    }
}
