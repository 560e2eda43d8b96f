using Campaign.Features.Entering;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Marten;
using Microsoft.Extensions.DependencyInjection;

namespace Campaign.Tests.Mail;

[Collection(nameof(CampaignApp))]
public sealed class MailRelayTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    MailRelay Relay => app.Services.GetRequiredService<MailRelay>();

    async Task<OutboxMessage> Message(string to)
    {
        await using var session = app.Session();
        var entrant = await session.Query<Entrant>().SingleAsync(e => e.Email == to);
        return await session.Query<OutboxMessage>().SingleAsync(m => m.EntrantId == entrant.Id);
    }

    /// <summary>Pending messages as the fast path would leave them if the process died: never queued.</summary>
    async Task<List<Guid>> WriteUnsent(int count)
    {
        await using var session = app.Session();
        var now = app.Clock.GetUtcNow() - TimeSpan.FromMinutes(5);
        var ids = new List<Guid>();
        for (var i = 0; i < count; i++)
        {
            var entrant = Entrant.Enter(
                new EntryInput($"e{i}@example.jp", $"Entrant {i}", "ja", false),
                now
            );
            var message = OutboxMessage.For(
                $"test:{i}",
                entrant.Id,
                entrant.Email,
                new RenderedMail("件名", "<p>本文</p>", "本文"),
                now,
                expiresAt: null
            );
            session.Insert(entrant);
            session.Insert(message);
            ids.Add(message.Id);
        }
        await session.SaveChangesAsync();
        return ids;
    }

    [Fact]
    public async Task A_mail_that_fails_to_send_stays_in_the_outbox_and_the_sweep_sends_it_later()
    {
        app.SendGrid.Answer(500, 500, 500, 500); // the first try and its three retries
        using var client = app.CreateClient();
        await client.Enter("taro@example.jp");
        await app.SendGrid.WaitForMail("taro@example.jp", count: 4);
        await Eventually.Until(async () => (await Message("taro@example.jp")).Attempts == 1);
        var failed = await Message("taro@example.jp");

        app.Clock.Advance(TimeSpan.FromMinutes(2));
        var handled = await Relay.SweepAsync();

        Assert.Equal(
            (OutboxStatus.Pending, "SendGrid answered 500"),
            (failed.Status, failed.LastError)
        );
        Assert.Equal(1, handled);
        var sent = await Message("taro@example.jp");
        Assert.Equal(OutboxStatus.Sent, sent.Status);
        Assert.StartsWith("stub-", sent.ProviderMessageId);
        Assert.Null(sent.Html); // the sign-in link is not kept once sent
        Assert.Equal(5, app.SendGrid.MailsTo("taro@example.jp").Count);
        Assert.All(app.SendGrid.Mails, m => Assert.Equal(sent.Id.ToString(), m.OutboxId));
    }

    [Fact]
    public async Task A_429_is_retried_after_the_time_SendGrid_asks_for()
    {
        app.SendGrid.Answer(429);
        using var client = app.CreateClient();

        await client.Enter("taro@example.jp");

        await app.SendGrid.WaitForMail("taro@example.jp", count: 2);
        await Eventually.Until(async () =>
            (await Message("taro@example.jp")).Status == OutboxStatus.Sent
        );
    }

    [Fact]
    public async Task A_mail_SendGrid_refuses_with_400_is_not_retried()
    {
        app.SendGrid.Answer(400);
        using var client = app.CreateClient();
        await client.Enter("taro@example.jp");
        await Eventually.Until(async () =>
            (await Message("taro@example.jp")).Status == OutboxStatus.Failed
        );

        app.Clock.Advance(TimeSpan.FromMinutes(2));
        await Relay.SweepAsync();

        Assert.Single(app.SendGrid.Requests);
        Assert.Equal("SendGrid answered 400", (await Message("taro@example.jp")).LastError);
    }

    [Fact]
    public async Task Two_relays_sweeping_at_once_send_each_message_exactly_once()
    {
        var ids = await WriteUnsent(40);
        var one = ActivatorUtilities.CreateInstance<MailRelay>(app.Services);
        var two = ActivatorUtilities.CreateInstance<MailRelay>(app.Services);

        var handled = await Task.WhenAll(one.SweepAsync(), two.SweepAsync());

        Assert.Equal(40, handled.Sum());
        Assert.Equal(
            ids.Select(i => i.ToString()).Order(),
            app.SendGrid.Mails.Select(m => m.OutboxId).Order()
        );
    }

    [Fact]
    public async Task A_message_whose_entrant_withdrew_is_dropped_not_sent()
    {
        var id = (await WriteUnsent(1)).Single();
        await using (var session = app.Session())
        {
            var message = await session.LoadAsync<OutboxMessage>(id);
            session.Delete<Entrant>(message!.EntrantId);
            await session.SaveChangesAsync();
        }

        await Relay.SweepAsync();

        Assert.Empty(app.SendGrid.Requests);
        await using var query = app.Store.QuerySession();
        var dropped = await query.LoadAsync<OutboxMessage>(id);
        Assert.Equal(
            (OutboxStatus.Dropped, "entrant withdrew"),
            (dropped!.Status, dropped.LastError)
        );
    }

    [Fact]
    public async Task A_message_handed_over_too_late_is_not_sent_again_after_the_sweep_sent_it()
    {
        var id = (await WriteUnsent(1)).Single();
        await using var query = app.Store.QuerySession();
        var handed = (await query.LoadAsync<OutboxMessage>(id))!;
        // Written with this process's lease, but the queue reached it only when the lease was
        // nearly over, and the sweep of another process took it once the lease had ended.
        handed.ClaimedUntil = app.Clock.GetUtcNow() + TimeSpan.FromSeconds(20);
        await Relay.SweepAsync();

        await Relay.DeliverAsync(handed);

        Assert.Single(app.SendGrid.Requests);
    }

    [Fact]
    public async Task A_message_handed_over_with_its_lease_is_sent_by_the_fast_path()
    {
        var id = (await WriteUnsent(1)).Single();
        await using var query = app.Store.QuerySession();
        var handed = (await query.LoadAsync<OutboxMessage>(id))!;
        MailRelay.ClaimForOwnQueue(handed, app.Clock.GetUtcNow());

        await Relay.DeliverAsync(handed);

        Assert.Equal(id.ToString(), Assert.Single(app.SendGrid.Mails).OutboxId);
        Assert.Equal(OutboxStatus.Sent, (await query.LoadAsync<OutboxMessage>(id))!.Status);
    }

    [Fact]
    public async Task A_message_whose_caller_gave_up_waiting_for_its_turn_is_sent_by_the_call_holding_the_turn()
    {
        var ids = await WriteUnsent(2);
        await using var query = app.Store.QuerySession();
        var first = (await query.LoadAsync<OutboxMessage>(ids[0]))!;
        var second = (await query.LoadAsync<OutboxMessage>(ids[1]))!;
        MailRelay.ClaimForOwnQueue(first, app.Clock.GetUtcNow());
        MailRelay.ClaimForOwnQueue(second, app.Clock.GetUtcNow());
        var gaveUp = false;
        app.SendGrid.WhileSending = async () =>
        {
            if (gaveUp)
                return;
            gaveUp = true;
            // Handed over while the first is being sent, by a caller out of patience.
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                Relay.DeliverAsync(second, new CancellationToken(canceled: true))
            );
        };

        await Relay.DeliverAsync(first);

        Assert.True(gaveUp);
        Assert.Equal(
            ids.Select(id => id.ToString()).Order(),
            app.SendGrid.Mails.Select(m => m.OutboxId).Order()
        );
        Assert.Equal(OutboxStatus.Sent, (await query.LoadAsync<OutboxMessage>(ids[1]))!.Status);
    }

    [Fact]
    public async Task Sign_in_mails_waiting_together_go_in_one_request_each_with_its_own_link()
    {
        await SignInLink.EnsureTemplates(
            app.Services.GetRequiredService<MailTemplate.Store>(),
            default
        );
        var settings = app.Services.GetRequiredService<Campaign.Platform.Settings>();
        var now = app.Clock.GetUtcNow() - TimeSpan.FromMinutes(5);
        await using (var session = app.Session())
        {
            foreach (var name in new[] { "一郎", "二郎", "三郎 <3>" })
            {
                var entrant = Entrant.Enter(
                    new EntryInput($"{Guid.NewGuid():N}@example.jp", name, "ja", false),
                    now
                );
                session.Insert(entrant);
                SignInLink.Write(
                    session,
                    new SignInLink.Address(entrant.Email, null, 0, false),
                    entrant,
                    "ja",
                    firstEntry: true,
                    settings,
                    now
                );
            }
            await session.SaveChangesAsync();
        }

        await Relay.SweepAsync();

        var request = Assert.Single(app.SendGrid.Requests);
        Assert.Equal(3, request.Mails.Count());
        Assert.Equal(3, request.Mails.Select(m => m.Token).Distinct().Count());
        Assert.All(request.Mails, m => Assert.Equal(43, m.Token.Length));
        Assert.Contains(request.Mails, m => m.Text.StartsWith("三郎 <3> 様"));
        await using var query = app.Store.QuerySession();
        var sent = await query.Query<OutboxMessage>().ToListAsync();
        // Once sent, no sign-in link is kept.
        Assert.All(sent, m => Assert.Equal((OutboxStatus.Sent, null), (m.Status, m.Substitutions)));
    }

    [Fact]
    public async Task A_message_deleted_while_it_is_being_sent_stays_deleted()
    {
        var id = (await WriteUnsent(1)).Single();
        // The entrant withdraws while SendGrid is answering: their mail record goes with them.
        app.SendGrid.WhileSending = async () =>
        {
            await using var session = app.Session();
            session.Delete<OutboxMessage>(id);
            await session.SaveChangesAsync();
        };

        await Relay.SweepAsync();

        Assert.Single(app.SendGrid.Requests);
        await using var query = app.Store.QuerySession();
        Assert.Null(await query.LoadAsync<OutboxMessage>(id));
    }

    [Fact]
    public async Task A_campaign_mail_whose_template_is_missing_fails_and_is_not_sent()
    {
        await using (var session = app.Session())
        {
            var now = app.Clock.GetUtcNow() - TimeSpan.FromMinutes(5);
            var entrant = Entrant.Enter(
                new EntryInput("t@example.jp", "テンプレート", "ja", true),
                now
            );
            var template = MailTemplate.Of(
                "reminder:never-stored:ja",
                new RenderedMail("件名", "<p>本文</p>", "本文"),
                now
            );
            session.Insert(entrant);
            session.Insert(
                OutboxMessage.Of(
                    template,
                    "test:no-template",
                    entrant.Id,
                    entrant.Email,
                    now,
                    expiresAt: null,
                    MailKind.Transactional,
                    substitutions: []
                )
            );
            await session.SaveChangesAsync();
        }

        await Relay.SweepAsync();

        Assert.Empty(app.SendGrid.Requests);
        await using var query = app.Store.QuerySession();
        var failed = await query.LoadAsync<OutboxMessage>(OutboxMessage.IdOf("test:no-template"));
        Assert.Equal(
            (OutboxStatus.Failed, "its template is missing"),
            (failed!.Status, failed.LastError)
        );
    }

    [Fact]
    public async Task A_sign_in_mail_that_could_not_be_sent_in_30_minutes_is_dropped()
    {
        app.SendGrid.Answer(503, 503, 503, 503);
        using var client = app.CreateClient();
        await client.Enter("taro@example.jp");
        await Eventually.Until(async () => (await Message("taro@example.jp")).Attempts == 1);

        app.Clock.Advance(TimeSpan.FromMinutes(31));
        await Relay.SweepAsync();

        Assert.Equal(OutboxStatus.Dropped, (await Message("taro@example.jp")).Status);
        Assert.Equal(4, app.SendGrid.Requests.Count);
    }
}
