using System.Collections.Concurrent;
using Campaign.Features.Entering;
using Campaign.Features.Reminders;
using Campaign.Platform;
using Marten;
using SendGrid;
using SendGrid.Helpers.Mail;

namespace Campaign.Mail;

/// <summary>
/// Delivers outbox messages through SendGrid. Messages are first claimed with a short lease in a
/// short transaction (<c>for update skip locked</c>: two relays never take the same one), then sent
/// with no transaction open (no database connection waits on the network), then their outcomes
/// are recorded. Campaign mail of one template goes up to 1000 recipients per request. Delivery is
/// at-least-once: each recipient's outbox id travels in SendGrid's <c>custom_args</c>.
/// </summary>
public sealed partial class MailRelay(
    IDocumentStore store,
    ISendGridClient sendGrid,
    Settings settings,
    TimeProvider clock,
    Metrics metrics,
    ILogger<MailRelay> logger
)
{
    /// <summary>Longer than SendGrid's bounded total time, so a lease never ends mid-send.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);

    /// <summary>The sweep leaves young messages to the fast path (the web process's queue).</summary>
    public static readonly TimeSpan SweepAfter = TimeSpan.FromMinutes(1);

    /// <summary>SendGrid takes at most 1000 personalizations (recipients) in one request.</summary>
    public const int MaxRecipientsPerRequest = 1000;

    // Claimed per sweep round: enough that each template's messages fill whole requests.
    const int SweepBatch = 4 * MaxRecipientsPerRequest;

    // Coravel hands over everything queued at once: at most this many requests run at a time.
    readonly SemaphoreSlim sending = new(4);

    // Claimed at once by the fast path: few enough that a claim is sent well within its lease.
    const int FastPathBatch = 100;

    // Messages handed to the fast path and not yet claimed. Under a crowd, Coravel hands over
    // hundreds at once: one claim and one outcome write then serve many messages, not one each.
    readonly ConcurrentQueue<Guid> fresh = new();
    readonly SemaphoreSlim claiming = new(1);

    /// <summary>
    /// The fast path: delivers a message just written, unless another relay has it, together with
    /// any others waiting. It returns once that message has been handled, by this call or another.
    /// </summary>
    public async Task DeliverAsync(Guid id, CancellationToken cancellationToken = default)
    {
        fresh.Enqueue(id);
        await claiming.WaitAsync(cancellationToken);
        try
        {
            var ids = new List<Guid>();
            while (ids.Count < FastPathBatch && fresh.TryDequeue(out var next))
                ids.Add(next);
            if (ids.Count == 0)
                return; // a call before this one took it with its own
            var claimed = await ClaimAsync(
                "where d.id = any(?) and d.status = 'Pending' and (d.claimed_until is null or d.claimed_until < ?) for update skip locked",
                [ids.ToArray(), clock.GetUtcNow()],
                cancellationToken
            );
            if (claimed.Count > 0)
                await SendAsync(claimed, cancellationToken);
        }
        finally
        {
            claiming.Release();
        }
    }

    /// <summary>The safety net: delivers every message left unsent for a minute. Returns how many it handled.</summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        var handled = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var now = clock.GetUtcNow();
            var batch = await ClaimAsync(
                "where d.status = 'Pending' and d.created_at < ? and (d.claimed_until is null or d.claimed_until < ?) order by d.created_at limit ? for update skip locked",
                [now - SweepAfter, now, SweepBatch],
                cancellationToken
            );
            if (batch.Count == 0)
                break;
            await SendAsync(batch, cancellationToken);
            handled += batch.Count;
        }
        await SampleBacklog(cancellationToken);
        return handled;
    }

    /// <summary>How much mail waits, and for how long the oldest has: the outbox's health.</summary>
    async Task SampleBacklog(CancellationToken cancellationToken)
    {
        await using var query = store.QuerySession();
        var waiting = await query
            .Query<OutboxMessage>()
            .CountAsync(m => m.Status == OutboxStatus.Pending, cancellationToken);
        var oldest = await query
            .Query<OutboxMessage>()
            .Where(m => m.Status == OutboxStatus.Pending)
            .OrderBy(m => m.CreatedAt)
            .Select(m => m.CreatedAt)
            .FirstOrDefaultAsync(cancellationToken);
        metrics.Sample("campaign.outbox_backlog", waiting);
        metrics.Sample(
            "campaign.outbox_oldest_age",
            oldest == default ? 0 : (clock.GetUtcNow() - oldest).TotalSeconds,
            "s"
        );
    }

    async Task<IReadOnlyList<OutboxMessage>> ClaimAsync(
        string where,
        object[] parameters,
        CancellationToken cancellationToken
    )
    {
        await using var session = store.LightweightSession();
        await session.BeginTransactionAsync(cancellationToken);
        var messages = await session.QueryAsync<OutboxMessage>(
            where,
            cancellationToken,
            parameters
        );
        var until = clock.GetUtcNow() + Lease;
        foreach (var message in messages)
            message.ClaimedUntil = until;
        session.Store(messages.ToArray());
        await session.SaveChangesAsync(cancellationToken);
        return messages;
    }

    async Task SendAsync(IReadOnlyList<OutboxMessage> claimed, CancellationToken cancellationToken)
    {
        var deliver = await DropWhatShouldNotGo(claimed, cancellationToken);
        // One request per template (a language of a campaign mail), one per message otherwise.
        var requests = deliver
            .GroupBy(m => m.Template ?? m.Id.ToString())
            .SelectMany(group => group.Chunk(MaxRecipientsPerRequest));
        await Task.WhenAll(requests.Select(r => SendLimited(r, cancellationToken)));

        await using var session = store.LightweightSession();
        session.Store(claimed.ToArray());
        await session.SaveChangesAsync(cancellationToken);
    }

    /// <summary>Expired mail, mail whose entrant is gone and campaign mail to someone who no longer
    /// qualifies is dropped; the entrants are loaded in one query.</summary>
    async Task<List<OutboxMessage>> DropWhatShouldNotGo(
        IReadOnlyList<OutboxMessage> claimed,
        CancellationToken cancellationToken
    )
    {
        var now = clock.GetUtcNow();
        await using var query = store.QuerySession();
        var ids = claimed
            .Where(m => m.Kind != MailKind.Operator)
            .Select(m => m.EntrantId)
            .Distinct();
        var entrants = (await query.LoadManyAsync<Entrant>(cancellationToken, ids)).ToDictionary(
            e => e.Id
        );
        var deliver = new List<OutboxMessage>();
        foreach (var message in claimed)
        {
            var reason = message switch
            {
                { ExpiresAt: { } expiresAt } when expiresAt <= now =>
                    "expired before it could be sent",
                { Kind: MailKind.Operator } => null,
                _ when !entrants.TryGetValue(message.EntrantId, out var entrant) =>
                    "entrant withdrew",
                { Kind: MailKind.Campaign }
                    when !NightlyReminder.Qualifies(entrants[message.EntrantId]) =>
                    "entrant no longer qualifies",
                _ => null,
            };
            if (reason is null)
                deliver.Add(message);
            else
            {
                message.Drop(reason);
                LogDropped(logger, message.Id, reason);
            }
        }
        return deliver;
    }

    async Task SendLimited(OutboxMessage[] request, CancellationToken cancellationToken)
    {
        await sending.WaitAsync(cancellationToken);
        try
        {
            await SendSplitting(request, cancellationToken);
        }
        finally
        {
            sending.Release();
        }
    }

    /// <summary>
    /// One bad address must not sink a batch: SendGrid refuses a whole request with 400, so the
    /// request is split in halves and retried, down to the one message that fails.
    /// </summary>
    async Task SendSplitting(OutboxMessage[] messages, CancellationToken cancellationToken)
    {
        var (status, providerId, error) = await Post(messages, cancellationToken);
        if (status is >= 200 and < 300)
        {
            foreach (var message in messages)
                message.MarkSent(providerId, clock.GetUtcNow());
            LogSent(logger, messages[0].Id, messages.Length, providerId ?? "-");
            metrics.Count("campaign.mails_sent", messages.Length);
            return;
        }
        if (status == 400 && messages.Length > 1)
        {
            var half = messages.Length / 2;
            await SendSplitting(messages[..half], cancellationToken);
            await SendSplitting(messages[half..], cancellationToken);
            return;
        }
        // 429 and 5xx were already retried by the resilience handler: try again at the next sweep.
        // Any other 4xx will not get better by retrying.
        var permanent = status is >= 400 and < 500 and not 429;
        metrics.Count("campaign.mails_failed", messages.Length);
        foreach (var message in messages)
        {
            message.MarkFailedAttempt(error, permanent);
            LogFailed(logger, message.Id, message.Attempts, error, message.Status.ToString());
        }
    }

    async Task<(int? Status, string? ProviderId, string Error)> Post(
        OutboxMessage[] messages,
        CancellationToken cancellationToken
    )
    {
        var first = messages[0];
        var from = settings.Mail.From;
        var mail = new SendGridMessage
        {
            From = new EmailAddress(from.Address, from.DisplayName),
            Subject = first.Subject,
            PlainTextContent = first.Text,
            HtmlContent = first.Html,
            Personalizations =
            [
                .. messages.Select(m => new Personalization
                {
                    Tos = [new EmailAddress(m.To)],
                    Substitutions = m.Substitutions,
                    Headers = m.Headers,
                    CustomArgs = new Dictionary<string, string> { ["outbox_id"] = m.Id.ToString() },
                }),
            ],
        };
        try
        {
            var response = await sendGrid.SendEmailAsync(mail, cancellationToken);
            var providerId = response.Headers.TryGetValues("X-Message-Id", out var ids)
                ? ids.FirstOrDefault()
                : null;
            return (
                (int)response.StatusCode,
                providerId,
                $"SendGrid answered {(int)response.StatusCode}"
            );
        }
        catch (Exception e)
            when (e
                    is HttpRequestException
                        or TimeoutException
                        or Polly.Timeout.TimeoutRejectedException
                || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
            )
        {
            return (null, null, $"SendGrid unreachable: {e.GetType().Name}");
        }
    }

    // The log names messages, never their addresses.
    [LoggerMessage(
        Level = LogLevel.Information,
        Message = "mail sent outbox_id={Id} count={Count} provider_id={ProviderId}"
    )]
    static partial void LogSent(ILogger logger, Guid id, int count, string providerId);

    [LoggerMessage(
        Level = LogLevel.Warning,
        Message = "mail not sent outbox_id={Id} attempts={Attempts} error=\"{Error}\" status={Status}"
    )]
    static partial void LogFailed(
        ILogger logger,
        Guid id,
        int attempts,
        string error,
        string status
    );

    [LoggerMessage(
        Level = LogLevel.Information,
        Message = "mail dropped outbox_id={Id} reason=\"{Reason}\""
    )]
    static partial void LogDropped(ILogger logger, Guid id, string reason);
}
