using System.Collections.Concurrent;
using Campaign.Features.Entering;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Campaign.Platform;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Campaign.Tests.Mail;

[Collection(nameof(CampaignApp))]
public sealed class MailRelayTests(CampaignApp app, ITestOutputHelper output) : IAsyncLifetime
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
    async Task<List<Guid>> WriteUnsent(int count, TimeSpan? expiresIn = null)
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
                expiresAt: app.Clock.GetUtcNow() + expiresIn
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
        // Two in one sweep: the entrant of the first withdrew, the second's is there.
        var ids = await WriteUnsent(2);
        await using (var session = app.Session())
        {
            var message = await session.LoadAsync<OutboxMessage>(ids[0]);
            session.Delete<Entrant>(message!.EntrantId);
            await session.SaveChangesAsync();
        }

        await Relay.SweepAsync();

        Assert.Equal([ids[1].ToString()], app.SendGrid.Mails.Select(m => m.OutboxId));
        await using var query = app.Store.QuerySession();
        var dropped = await query.LoadAsync<OutboxMessage>(ids[0]);
        Assert.Equal(
            (OutboxStatus.Dropped, "entrant withdrew"),
            (dropped!.Status, dropped.LastError)
        );
        Assert.Equal(OutboxStatus.Sent, (await query.LoadAsync<OutboxMessage>(ids[1]))!.Status);
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

    /// <summary>Sign-in mails written five minutes ago and never queued: one template, one request.</summary>
    async Task<List<Guid>> WriteSignInMails(params string[] names)
    {
        await SignInLink.EnsureTemplates(
            app.Services.GetRequiredService<MailTemplate.Store>(),
            default
        );
        var settings = app.Services.GetRequiredService<Settings>();
        var now = app.Clock.GetUtcNow() - TimeSpan.FromMinutes(5);
        var ids = new List<Guid>();
        await using var session = app.Session();
        foreach (var name in names)
        {
            var entrant = Entrant.Enter(
                new EntryInput($"{Guid.NewGuid():N}@example.jp", name, "ja", false),
                now
            );
            session.Insert(entrant);
            var mail = SignInLink.Write(session, entrant, "ja", firstEntry: true, settings, now);
            ids.Add(mail.Id);
        }
        await session.SaveChangesAsync();
        return ids;
    }

    async Task<Dictionary<Guid, OutboxMessage>> Messages(IEnumerable<Guid> ids)
    {
        await using var query = app.Store.QuerySession();
        return (await query.LoadManyAsync<OutboxMessage>(ids)).ToDictionary(m => m.Id);
    }

    /// <summary>A relay of its own, whose log lines (and metrics, which are log lines) the test reads.</summary>
    MailRelay RelayLoggingTo(CapturedLog log) =>
        ActivatorUtilities.CreateInstance<MailRelay>(
            app.Services,
            new Metrics(log.For<Metrics>()),
            log.For<MailRelay>()
        );

    [Fact]
    public async Task Sign_in_mails_waiting_together_go_in_one_request_each_with_its_own_link()
    {
        await WriteSignInMails("一郎", "二郎", "三郎 <3>");

        await Relay.SweepAsync();

        var request = Assert.Single(app.SendGrid.Requests);
        Assert.Equal(3, request.Mails.Count());
        Assert.Equal(3, request.Mails.Select(m => m.Token).Distinct().Count());
        Assert.All(request.Mails, m => Assert.Equal(43, m.Token.Length));
        // Nothing that whoever typed the address chose: no display name.
        Assert.All(
            request.Mails,
            m => Assert.DoesNotContain("郎", m.Subject + m.Text, StringComparison.Ordinal)
        );
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

        var dropped = await Message("taro@example.jp");
        Assert.Equal(
            (OutboxStatus.Dropped, "expired before it could be sent", 1),
            (dropped.Status, dropped.LastError, dropped.Attempts)
        );
        Assert.Equal(4, app.SendGrid.Requests.Count);
    }

    [Fact]
    public void Each_failed_attempt_waits_twice_as_long_as_the_last_up_to_half_an_hour_and_never_past_the_expiry()
    {
        var now = DateTimeOffset.Parse("2026-12-01T11:00:00Z");
        var message = OutboxMessage.For(
            "test:rule",
            Guid.NewGuid(),
            "rule@example.jp",
            new RenderedMail("件名", "<p>本文</p>", "本文"),
            now,
            expiresAt: now + TimeSpan.FromMinutes(2)
        );

        message.MarkFailedAttempt("SendGrid answered 503", permanent: false, now);
        var first = message.ClaimedUntil;
        message.MarkFailedAttempt(
            "SendGrid answered 503",
            permanent: false,
            now + TimeSpan.FromMinutes(1)
        );

        Assert.Equal(
            [1, 2, 4, 8, 16, 30, 30],
            Enumerable.Range(1, 7).Select(n => OutboxMessage.RetryDelay(n).TotalMinutes)
        );
        Assert.Equal(now + TimeSpan.FromMinutes(1), first);
        Assert.Equal(
            (OutboxStatus.Pending, message.ExpiresAt),
            (message.Status, message.ClaimedUntil)
        );
        // An outage must outlast every mail with an expiry (a reminder's is 12 hours) before it
        // uses a message's attempts up.
        var lastAttempt = Enumerable
            .Range(1, OutboxMessage.MaxAttempts - 1)
            .Aggregate(TimeSpan.Zero, (after, n) => after + OutboxMessage.RetryDelay(n));
        Assert.True(
            lastAttempt > TimeSpan.FromHours(12),
            $"the last attempt comes after {lastAttempt}"
        );
    }

    [Fact]
    public async Task One_sweep_makes_one_attempt_per_message_however_soon_the_attempt_fails()
    {
        var ids = await WriteUnsent(3);
        app.SendGrid.Outage = 503;
        var start = app.Clock.GetUtcNow();

        var handled = await Relay.SweepAsync();

        Assert.Equal(3, handled);
        foreach (var message in (await Messages(ids)).Values)
        {
            Assert.Equal(
                (OutboxStatus.Pending, "SendGrid answered 503", 1),
                (message.Status, message.LastError, message.Attempts)
            );
            Assert.True(message.ClaimedUntil > start + TimeSpan.FromMinutes(1));
        }
        // One attempt each: the first try and the resilience handler's three retries.
        var tries = app.SendGrid.Mails.GroupBy(m => m.OutboxId).ToList();
        Assert.Equal(3, tries.Count);
        Assert.All(tries, each => Assert.Equal(4, each.Count()));
    }

    [Fact]
    public async Task Mail_waits_out_a_ten_minute_outage_and_leaves_once_when_SendGrid_is_back()
    {
        var ids = await WriteSignInMails("一郎", "二郎", "三郎");
        ids.AddRange(await WriteUnsent(1));
        var start = app.Clock.GetUtcNow();
        var tried = ids.ToDictionary(id => id, _ => new List<int>()); // the minutes of each attempt

        // Down for ten minutes, in three ways: 503, then 429, then no answer at all.
        for (var minute = 0; minute < 10; minute++)
        {
            app.SendGrid.Outage = minute switch
            {
                < 3 => 503,
                < 6 => 429,
                _ => SendGridStub.NoAnswer,
            };
            var error = minute switch
            {
                < 3 => "SendGrid answered 503",
                < 6 => "SendGrid answered 429",
                _ => "SendGrid unreachable: TimeoutRejectedException",
            };
            var before = await Messages(ids);
            var sweepStart = app.Clock.GetUtcNow();

            await Relay.SweepAsync();

            foreach (var message in (await Messages(ids)).Values)
            {
                var was = before[message.Id];
                Assert.Equal(OutboxStatus.Pending, message.Status);
                Assert.True(message.ClaimedUntil > sweepStart, "it waits for its next attempt");
                if (message.Attempts == was.Attempts)
                    Assert.Equal(was.LastError, message.LastError); // waiting: nothing was tried
                else
                {
                    Assert.Equal((was.Attempts + 1, error), (message.Attempts, message.LastError));
                    tried[message.Id].Add(minute);
                }
            }
            app.Clock.Advance(TimeSpan.FromMinutes(1));
        }
        // An attempt, then waits of 1, 2 and 4 minutes: four attempts, the next due at minute 15.
        Assert.All(tried.Values, minutes => Assert.Equal([0, 1, 3, 7], minutes));

        app.SendGrid.Outage = null;
        for (var minute = 10; minute <= 20; minute++)
        {
            await Relay.SweepAsync();
            if ((await Messages(ids)).Values.All(m => m.Status == OutboxStatus.Sent))
                break;
            app.Clock.Advance(TimeSpan.FromMinutes(1));
        }

        var sent = await Messages(ids);
        foreach (var message in sent.Values.OrderBy(m => m.SentAt))
            output.WriteLine(
                $"delivered outbox_id={message.Id} attempts={message.Attempts} at minute {(message.SentAt - start)!.Value.TotalMinutes:0.0} of the outage's start"
            );
        Assert.All(sent.Values, m => Assert.Equal((OutboxStatus.Sent, 5), (m.Status, m.Attempts)));
        // Each exactly once: no attempt answered with an error was delivered as well.
        Assert.Equal(
            ids.Select(id => id.ToString()).Order(),
            app.SendGrid.Delivered.Select(m => m.OutboxId).Order()
        );
    }

    [Fact]
    public async Task Mail_survives_an_hour_of_a_refused_key_and_the_operators_are_told()
    {
        var ids = await WriteUnsent(2);
        var log = new CapturedLog();
        var relay = RelayLoggingTo(log);
        var start = app.Clock.GetUtcNow();
        var tried = ids.ToDictionary(id => id, _ => new List<int>());

        // The plan's credits run out (401), then the key lacks the permission (403).
        for (var minute = 0; minute < 60; minute++)
        {
            app.SendGrid.Outage = minute < 30 ? 401 : 403;
            var before = await Messages(ids);

            await relay.SweepAsync();

            foreach (var message in (await Messages(ids)).Values)
            {
                var was = before[message.Id];
                Assert.Equal(OutboxStatus.Pending, message.Status);
                if (message.Attempts == was.Attempts)
                    Assert.Equal(was.LastError, message.LastError);
                else
                {
                    Assert.Equal(
                        (was.Attempts + 1, $"SendGrid answered {app.SendGrid.Outage}"),
                        (message.Attempts, message.LastError)
                    );
                    tried[message.Id].Add(minute);
                }
            }
            app.Clock.Advance(TimeSpan.FromMinutes(1));
        }
        Assert.All(tried.Values, minutes => Assert.Equal([0, 1, 3, 7, 15, 31], minutes));

        app.SendGrid.Outage = null; // the credits are topped up
        for (var minute = 60; minute <= 92; minute++)
        {
            await relay.SweepAsync();
            if ((await Messages(ids)).Values.All(m => m.Status == OutboxStatus.Sent))
                break;
            app.Clock.Advance(TimeSpan.FromMinutes(1));
        }

        var sent = await Messages(ids);
        foreach (var message in sent.Values)
            output.WriteLine(
                $"delivered outbox_id={message.Id} attempts={message.Attempts} at minute {(message.SentAt - start)!.Value.TotalMinutes:0.0} of the outage's start"
            );
        Assert.All(sent.Values, m => Assert.Equal((OutboxStatus.Sent, 7), (m.Status, m.Attempts)));
        Assert.Equal(
            ids.Select(id => id.ToString()).Order(),
            app.SendGrid.Delivered.Select(m => m.OutboxId).Order()
        );
        // Six refused attempts of two messages, each in its own request: one error line each,
        // naming the message by its outbox id only.
        var alerts = log.Lines.Where(l => l.Level == LogLevel.Error).ToList();
        Assert.Equal(12, alerts.Count);
        Assert.All(
            alerts,
            a =>
                Assert.Matches(
                    "^SendGrid refused the key or the account status=40[13] outbox_id=[0-9a-f-]{36} count=1:",
                    a.Message
                )
        );
        Assert.Contains(alerts, a => a.Message.Contains("status=401"));
        Assert.Contains(alerts, a => a.Message.Contains("status=403"));
        Assert.Equal(12, log.Count("campaign.mail_auth_failed"));
        Assert.DoesNotContain(log.Lines, l => l.Message.Contains('@') || l.Message.Contains("SG."));
    }

    [Fact]
    public async Task A_message_whose_expiry_passes_during_an_outage_is_dropped_and_counted()
    {
        var id = (await WriteUnsent(1, expiresIn: TimeSpan.FromMinutes(3))).Single();
        var log = new CapturedLog();
        var relay = RelayLoggingTo(log);
        app.SendGrid.Outage = 503;

        await relay.SweepAsync(); // the first attempt, then a wait of a minute
        app.Clock.Advance(TimeSpan.FromMinutes(1));
        await relay.SweepAsync(); // the second, then a wait of two minutes, cut short by the expiry
        var waiting = (await Messages([id]))[id];
        app.Clock.Advance(TimeSpan.FromMinutes(1));
        await relay.SweepAsync();
        var stillWaiting = (await Messages([id]))[id];
        app.Clock.Advance(TimeSpan.FromMinutes(1));
        await relay.SweepAsync();

        Assert.Equal(
            (OutboxStatus.Pending, "SendGrid answered 503", 2, waiting.ExpiresAt),
            (waiting.Status, waiting.LastError, waiting.Attempts, waiting.ClaimedUntil)
        );
        Assert.Equal(
            (OutboxStatus.Pending, "SendGrid answered 503", 2),
            (stillWaiting.Status, stillWaiting.LastError, stillWaiting.Attempts)
        );
        var dropped = (await Messages([id]))[id];
        Assert.Equal(
            (OutboxStatus.Dropped, "expired before it could be sent", 2, null),
            (dropped.Status, dropped.LastError, dropped.Attempts, dropped.Html)
        );
        Assert.Equal(8, app.SendGrid.Requests.Count); // two attempts of four tries, none after
        Assert.Empty(app.SendGrid.Delivered);
        Assert.Equal(1, log.Count("campaign.mails_dropped"));
    }
}

/// <summary>What a relay logs, kept for the test to read.</summary>
sealed class CapturedLog
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Lines { get; } = new();

    public ILogger<T> For<T>() => new Logger<T>(this);

    /// <summary>The sum of an l2met count (<c>count#name=n</c>) over every line.</summary>
    public int Count(string metric) =>
        Lines
            .Select(l => l.Message)
            .Where(m => m.StartsWith($"count#{metric}="))
            .Sum(m => int.Parse(m[$"count#{metric}=".Length..]));

    sealed class Logger<T>(CapturedLog log) : ILogger<T>
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(
            LogLevel logLevel,
            EventId eventId,
            TState state,
            Exception? exception,
            Func<TState, Exception?, string> formatter
        ) => log.Lines.Enqueue((logLevel, formatter(state, exception)));
    }
}
