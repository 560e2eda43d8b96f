using Campaign.Features.Backup;
using Campaign.Features.Entering;
using Campaign.Features.Privacy;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Marten;
using Microsoft.Extensions.DependencyInjection;

namespace Campaign.Tests.Features.Privacy;

// In the app's collection although it has hosts of its own: they keep their sessions in the Redis
// database that the collection's reset empties (CampaignApp.ResetAsync), which once signed a test
// here out between two requests when it ran beside the collection.
/// <summary>
/// The retention rules at their boundaries, on a campaign that ends on 2026-12-24 at 23:59 in Tokyo
/// (14:59 UTC): unconfirmed entries go after 7 days, everything 90 days after the end.
/// </summary>
[Collection(nameof(CampaignApp))]
public sealed class RetentionTests : IAsyncLifetime
{
    static readonly DateTimeOffset Entered = DateTimeOffset.Parse("2026-12-10T03:00:00Z");
    static readonly DateTimeOffset PurgeAt = DateTimeOffset.Parse("2027-03-24T14:59:00Z");

    readonly CampaignApp app = CampaignApp.With(
        new() { ["CAMPAIGN_ENDS_AT"] = "2026-12-24T23:59", ["OPERATOR_EMAIL"] = "ops@example.test" }
    );

    public Task InitializeAsync() => app.InitializeAsync();

    public Task DisposeAsync() => ((IAsyncLifetime)app).DisposeAsync();

    PurgeExpiredData Purge => app.Services.GetRequiredService<PurgeExpiredData>();

    void At(DateTimeOffset instant) => app.Clock.At(instant);

    async Task<Entrant> Stored(
        string email,
        DateTimeOffset entered,
        bool confirmed = false,
        bool linkStillWorks = false
    )
    {
        var entrant = Entrant.Enter(new EntryInput(email, "保存 期間", "ja", true), entered);
        if (confirmed)
            entrant.Confirm(entered);
        var (_, token) = SignInToken.Issue(
            entrant.Id,
            linkStillWorks ? app.Clock.GetUtcNow() : entered
        );
        await using var session = app.Session();
        session.Insert(entrant);
        session.Insert(token);
        session.Insert(
            OutboxMessage.For(
                $"sign-in:{entrant.Id}",
                entrant.Id,
                email,
                new RenderedMail("件名", "<p>本文</p>", "本文"),
                entered,
                expiresAt: null
            )
        );
        await session.SaveChangesAsync();
        return entrant;
    }

    async Task<List<string>> Left()
    {
        await using var session = app.Store.QuerySession();
        return [.. (await session.Query<Entrant>().ToListAsync()).Select(e => e.Email).Order()];
    }

    [Fact]
    public async Task An_unconfirmed_entry_goes_seven_days_after_it_was_made_with_its_links_and_mail()
    {
        At(Entered.AddDays(7).AddSeconds(1));
        var old = await Stored("old@example.jp", Entered);
        await Stored("young@example.jp", Entered.AddSeconds(2));
        await Stored("confirmed@example.jp", Entered, confirmed: true);
        await Stored("signing-in@example.jp", Entered, linkStillWorks: true);

        var dryRun = await Purge.Run(dryRun: true, default);
        var leftByDryRun = await Left();
        var summary = await Purge.Run(dryRun: false, default);

        Assert.Equal(1, dryRun.PendingEntrants);
        Assert.Equal(4, leftByDryRun.Count);
        // The links of young@ and confirmed@ expired long ago (old@'s went with old@).
        Assert.Equal(new PurgeExpiredData.Summary(false, 1, 0, 0, 0, 0, 2), summary);
        Assert.Equal(
            ["confirmed@example.jp", "signing-in@example.jp", "young@example.jp"],
            await Left()
        );
        Assert.Equal(["PostgreSQL mt_doc_photoerasure"], await Traces.Of(app, old.Id, old.Email));
        await app.SweepPhotosAfterTheLastSignature();
        Assert.Empty(await Traces.Of(app, old.Id, old.Email));
    }

    [Fact]
    public async Task Until_ninety_days_after_the_campaign_ends_only_the_unconfirmed_rule_applies()
    {
        At(PurgeAt.AddSeconds(-1));
        await Stored("confirmed@example.jp", Entered, confirmed: true);

        var summary = await Purge.Run(dryRun: false, default);

        Assert.Equal(new PurgeExpiredData.Summary(false, 0, 0, 0, 0, 0, 1), summary);
        Assert.Equal(["confirmed@example.jp"], await Left());
    }

    [Fact]
    public async Task A_sign_in_link_goes_on_the_hourly_run_once_it_has_expired_and_not_before()
    {
        At(Entered);
        var entrant = await Stored("confirmed@example.jp", Entered, confirmed: true);
        async Task<int> Links()
        {
            await using var session = app.Store.QuerySession();
            return await session.Query<SignInToken>().CountAsync(t => t.EntrantId == entrant.Id);
        }

        At(Entered + SignInToken.Lifetime - TimeSpan.FromSeconds(1));
        var early = await Purge.Run(dryRun: false, default);
        var beforeExpiry = await Links();
        At(Entered + SignInToken.Lifetime);
        var dryRun = await Purge.Run(dryRun: true, default);
        var afterDryRun = await Links();
        var onExpiry = await Purge.Run(dryRun: false, default);

        Assert.Equal((0, 1), (early.ExpiredLinks, beforeExpiry));
        Assert.Equal((1, 1), (dryRun.ExpiredLinks, afterDryRun));
        Assert.Equal(1, onExpiry.ExpiredLinks);
        Assert.Equal(0, await Links());
        Assert.Equal(["confirmed@example.jp"], await Left());
    }

    [Fact]
    public async Task Ninety_days_after_the_campaign_ends_everything_goes_and_the_operator_is_told()
    {
        var (client, id) = await app.SignedIn("photo@example.jp");
        var key = await Photos.PhotoTests.AddPhoto(client);
        var other = await Stored("other@example.jp", Entered, confirmed: true);
        await using (var session = app.Session())
        {
            session.Store(new Withdrawal { Id = Withdrawal.IdOf("gone@example.jp") });
            await session.SaveChangesAsync();
        }
        At(PurgeAt);

        var dryRun = await Purge.Run(dryRun: true, default);
        var summary = await Purge.Run(dryRun: false, default);
        var again = await Purge.Run(dryRun: false, default);

        var expected = new PurgeExpiredData.Summary(true, 0, 2, 1, 1, 1);
        Assert.Equal((expected, expected), (dryRun, summary));
        Assert.Empty(await Left());
        Assert.Equal(
            ["PostgreSQL mt_doc_photoerasure"],
            await Traces.Of(app, id, "photo@example.jp")
        );
        await app.SweepPhotosAfterTheLastSignature();
        Assert.Empty(await Traces.Of(app, id, "photo@example.jp"));
        Assert.Empty(await Traces.Of(app, other.Id, other.Email));
        Assert.StartsWith($"entrants/{id:N}/", key);
        await using var query = app.Store.QuerySession();
        var told = Assert.Single(await query.Query<OutboxMessage>().ToListAsync());
        Assert.Equal((MailKind.Operator, "ops@example.test"), (told.Kind, told.To));
        Assert.Contains("応募者 / Entrants:              2", told.Text);
        Assert.Equal(0, await query.Query<Withdrawal>().CountAsync());
        Assert.Equal(new PurgeExpiredData.Summary(true, 0, 0, 0, 0, 0), again);
    }
}
