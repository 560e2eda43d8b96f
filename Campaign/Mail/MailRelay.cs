using Campaign.Features;
using Campaign.Features.Entering;
using Campaign.Platform;
using Marten;
using SendGrid;
using SendGrid.Helpers.Mail;

namespace Campaign.Mail;

/// <summary>
/// Delivers outbox messages through SendGrid. Each message is first claimed with a short lease in a
/// short transaction (<c>for update skip locked</c>: two relays never take the same one), then sent
/// with no transaction open (no database connection waits on the network), then its outcome is
/// recorded. Delivery is at-least-once: the outbox id travels in SendGrid's <c>custom_args</c>.
/// </summary>
public sealed partial class MailRelay(
    IDocumentStore store,
    ISendGridClient sendGrid,
    Settings settings,
    TimeProvider clock,
    ILogger<MailRelay> logger
)
{
    /// <summary>Longer than SendGrid's bounded total time, so a lease never ends mid-send.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);

    /// <summary>The sweep leaves young messages to the fast path (the web process's queue).</summary>
    public static readonly TimeSpan SweepAfter = TimeSpan.FromMinutes(1);

    const int SweepBatch = 50;

    // Coravel hands over everything queued at once: at most this many sends run at a time.
    readonly SemaphoreSlim sending = new(4);

    /// <summary>The fast path: delivers one message just written, unless another relay has it.</summary>
    public async Task DeliverAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var claimed = await ClaimAsync(
            "where d.id = ? and d.status = 'Pending' and (d.claimed_until is null or d.claimed_until < ?) for update skip locked",
            [id, clock.GetUtcNow()],
            cancellationToken
        );
        foreach (var message in claimed)
            await SendAsync(message, cancellationToken);
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
            await Task.WhenAll(batch.Select(m => SendAsync(m, cancellationToken)));
            handled += batch.Count;
        }
        return handled;
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
        {
            message.ClaimedUntil = until;
            session.Store(message);
        }
        await session.SaveChangesAsync(cancellationToken);
        return messages;
    }

    async Task SendAsync(OutboxMessage message, CancellationToken cancellationToken)
    {
        await sending.WaitAsync(cancellationToken);
        try
        {
            await Decide(message, cancellationToken);
            await using var session = store.LightweightSession();
            session.Store(message);
            await session.SaveChangesAsync(cancellationToken);
        }
        finally
        {
            sending.Release();
        }
    }

    async Task Decide(OutboxMessage message, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (message.ExpiresAt is { } expiresAt && expiresAt <= now)
        {
            message.Drop("expired before it could be sent");
            LogDropped(logger, message.Id, "expired");
            return;
        }
        if (message.Kind != MailKind.Operator)
        {
            await using var query = store.QuerySession();
            var entrant = await query.LoadAsync<Entrant>(message.EntrantId, cancellationToken);
            var reason = entrant switch
            {
                null => "entrant withdrew",
                _ when message.Kind == MailKind.Campaign
                        && !Features.Reminders.NightlyReminder.Qualifies(entrant) =>
                    "entrant no longer qualifies",
                _ => null,
            };
            if (reason is not null)
            {
                message.Drop(reason);
                LogDropped(logger, message.Id, reason);
                return;
            }
        }

        try
        {
            var response = await sendGrid.SendEmailAsync(ToSendGrid(message), cancellationToken);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                var providerId = response.Headers.TryGetValues("X-Message-Id", out var ids)
                    ? ids.FirstOrDefault()
                    : null;
                message.MarkSent(providerId, clock.GetUtcNow());
                LogSent(logger, message.Id, providerId ?? "-", message.Attempts);
                return;
            }
            // 429 and 5xx were already retried by the resilience handler: try again at the next sweep.
            // Any other 4xx will not get better by retrying.
            var permanent = status is >= 400 and < 500 and not 429;
            message.MarkFailedAttempt($"SendGrid answered {status}", permanent);
        }
        catch (Exception e)
            when (e
                    is HttpRequestException
                        or TimeoutException
                        or Polly.Timeout.TimeoutRejectedException
                        or TaskCanceledException
                && !cancellationToken.IsCancellationRequested
            )
        {
            message.MarkFailedAttempt(
                $"SendGrid unreachable: {e.GetType().Name}",
                permanent: false
            );
        }
        LogFailed(
            logger,
            message.Id,
            message.Attempts,
            message.LastError!,
            message.Status.ToString()
        );
    }

    SendGridMessage ToSendGrid(OutboxMessage message)
    {
        var from = settings.Mail.From;
        var mail = new SendGridMessage
        {
            From = new EmailAddress(from.Address, from.DisplayName),
            Subject = message.Subject,
            PlainTextContent = message.Text,
            HtmlContent = message.Html,
        };
        mail.AddTo(new EmailAddress(message.To));
        mail.AddCustomArg("outbox_id", message.Id.ToString());
        return mail;
    }

    // The log names the message, never its address.
    [LoggerMessage(
        Level = LogLevel.Information,
        Message = "mail sent outbox_id={Id} provider_id={ProviderId} attempts={Attempts}"
    )]
    static partial void LogSent(ILogger logger, Guid id, string providerId, int attempts);

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
