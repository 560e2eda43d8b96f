using System.Collections.Concurrent;
using Campaign.Platform;
using Marten;

namespace Campaign.Mail;

/// <summary>
/// Delivers outbox messages through SendGrid. Each message is sent under a short lease: the web
/// process writes its sign-in mails with its own, and the sweep claims what is left in one statement
/// (<c>for update skip locked</c>: two relays never take the same one). Messages are sent with no
/// transaction open (no database connection waits on the network), then their outcomes are
/// recorded in one write. Mail of one template (a reminder, a sign-in link) goes up to 1000
/// recipients per request. Delivery is at-least-once: each recipient's outbox id travels in
/// SendGrid's <c>custom_args</c>.
/// <para>
/// The relay is the policy: what is sent, dropped, failed or retried, and when. The outbox's SQL is
/// <see cref="OutboxTable"/>'s, the request to SendGrid <see cref="SendGridSender"/>'s, and what
/// may still be sent and the code's templates are the features' (<see cref="MailRules"/>).
/// </para>
/// <para>
/// When SendGrid is down, or refuses the key, a message waits longer after each failed attempt
/// (<see cref="OutboxMessage.RetryDelay"/>) and leaves once SendGrid is back, unless it expired
/// meanwhile: it is then dropped. Only a refusal of the mail itself (400 for its one address, 413)
/// fails it for good.
/// </para>
/// </summary>
public sealed partial class MailRelay(
    OutboxTable outbox,
    SendGridSender sendGrid,
    MailRules rules,
    IDocumentStore store,
    TimeProvider clock,
    Metrics metrics,
    ILogger<MailRelay> logger
)
{
    /// <summary>Longer than SendGrid's bounded total time, so a lease never ends mid-send.</summary>
    public static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);

    /// <summary>The sweep leaves young messages to the fast path (the web process's queue).</summary>
    public static readonly TimeSpan SweepAfter = TimeSpan.FromMinutes(1);

    // Claimed per sweep round: enough that each template's messages fill whole requests.
    const int SweepBatch = 4 * SendGridSender.MaxRecipientsPerRequest;

    // Coravel hands over everything queued at once: at most this many requests run at a time.
    readonly SemaphoreSlim sending = new(4);

    // Sent at once by the fast path: few enough that they are sent well within their lease.
    const int FastPathBatch = 100;

    /// <summary>
    /// A message handed over with less of its lease left than this is claimed again before it is
    /// sent: a request to SendGrid takes at most 30 s with its retries (<c>MailServices</c>).
    /// </summary>
    static readonly TimeSpan LeaseToSendWith = TimeSpan.FromMinutes(1);

    // Messages handed to the fast path and not yet sent. Under a crowd, Coravel hands over
    // hundreds at once: one outcome write then serves many messages, not one each.
    readonly ConcurrentQueue<OutboxMessage> fresh = new();
    readonly SemaphoreSlim claiming = new(1);

    /// <summary>The lease a message is written with by the process that will send it (<see cref="DeliverAsync"/>).</summary>
    public static void ClaimForOwnQueue(OutboxMessage message, DateTimeOffset now) =>
        message.ClaimedUntil = now + Lease;

    /// <summary>
    /// The fast path: delivers a message this process has just written, together with any others
    /// waiting. The message was written with this process's lease (<see cref="ClaimForOwnQueue"/>),
    /// so no other relay takes it meanwhile and it is sent without another write; one whose lease
    /// is running out is claimed again first, and skipped if another relay has it or has tried to
    /// send it (it then waits for the sweep). It returns once
    /// the message has been handled, by this call or another.
    /// </summary>
    public Task DeliverAsync(
        OutboxMessage message,
        CancellationToken cancellationToken = default
    ) => DeliverAsync([message], cancellationToken);

    /// <summary>The fast path for the messages of one transaction (<see cref="DeliverAsync(OutboxMessage, CancellationToken)"/>).</summary>
    public async Task DeliverAsync(
        IReadOnlyList<OutboxMessage> messages,
        CancellationToken cancellationToken = default
    )
    {
        foreach (var message in messages)
            fresh.Enqueue(message);
        await claiming.WaitAsync(cancellationToken);
        try
        {
            // The turn sends everything waiting, a batch at a time, while its caller has patience.
            // A caller whose patience ran out while it waited for the turn left its message here:
            // sending only one batch per turn would leave such messages to the sweep, which is what
            // happened to thousands after a stall of the database under a crowd.
            while (!cancellationToken.IsCancellationRequested)
            {
                var handed = new List<OutboxMessage>();
                while (handed.Count < FastPathBatch && fresh.TryDequeue(out var next))
                    handed.Add(next);
                if (handed.Count == 0)
                    return; // nothing left: a call before this one took this call's messages
                var now = clock.GetUtcNow();
                var ours = handed.Where(m => m.ClaimedUntil - now >= LeaseToSendWith).ToList();
                var expiring = handed.Except(ours).Select(m => m.Id).ToArray();
                if (expiring.Length > 0)
                    ours.AddRange(
                        await outbox.ClaimUntried(
                            expiring,
                            heldBefore: now + LeaseToSendWith,
                            until: now + Lease,
                            cancellationToken
                        )
                    );
                if (ours.Count > 0)
                    await SendAsync(ours, cancellationToken);
            }
        }
        finally
        {
            claiming.Release();
        }
    }

    /// <summary>
    /// The safety net: delivers every message left unsent for a minute that no lease or wait holds,
    /// at most once per sweep. Returns how many it handled.
    /// </summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        // Every round claims against the time the sweep began: a message that fails in one round
        // waits past that time, so a later round never takes it again.
        var start = clock.GetUtcNow();
        var handled = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var batch = await outbox.ClaimLeftOver(
                writtenBefore: start - SweepAfter,
                at: start,
                SweepBatch,
                until: clock.GetUtcNow() + Lease,
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
        var (waiting, oldest) = await outbox.Backlog(cancellationToken);
        metrics.Sample("campaign.outbox_backlog", waiting);
        metrics.Sample(
            "campaign.outbox_oldest_age",
            oldest == default ? 0 : (clock.GetUtcNow() - oldest).TotalSeconds,
            "s"
        );
    }

    async Task SendAsync(IReadOnlyList<OutboxMessage> claimed, CancellationToken cancellationToken)
    {
        var deliver = await DropWhatShouldNotGo(claimed, cancellationToken);
        var templates = await TemplatesOf(deliver, cancellationToken);
        // One request per template (a language of a campaign mail), one per message otherwise.
        var requests = deliver
            .GroupBy(m => m.Template ?? m.Id.ToString())
            .SelectMany(group => group.Chunk(SendGridSender.MaxRecipientsPerRequest));
        await Task.WhenAll(
            requests.Select(request =>
                BodyOf(request[0], templates) is { } body
                    ? SendLimited(request, body, cancellationToken)
                    : Unsendable(request, "its template is missing")
            )
        );

        await outbox.RecordOutcomes(claimed, cancellationToken);
    }

    /// <summary>
    /// Expired mail is dropped, and so is mail that its kind's check no longer lets go (mail whose
    /// entrant is gone, campaign mail to someone who no longer qualifies: <see cref="MailRules"/>).
    /// </summary>
    async Task<List<OutboxMessage>> DropWhatShouldNotGo(
        IReadOnlyList<OutboxMessage> claimed,
        CancellationToken cancellationToken
    )
    {
        var now = clock.GetUtcNow();
        bool Expired(OutboxMessage m) => m.ExpiresAt is { } expiresAt && expiresAt <= now;
        await using var query = store.QuerySession();
        var refused = await rules.Refusals(
            query,
            claimed.Where(m => !Expired(m)),
            cancellationToken
        );
        var deliver = new List<OutboxMessage>();
        var dropped = 0;
        foreach (var message in claimed)
        {
            var reason = Expired(message)
                ? "expired before it could be sent"
                : refused.GetValueOrDefault(message.Id);
            if (reason is null)
                deliver.Add(message);
            else
            {
                message.Drop(reason);
                LogDropped(logger, message.Id, reason);
                dropped++;
            }
        }
        if (dropped > 0)
            metrics.Count("campaign.mails_dropped", dropped);
        return deliver;
    }

    /// <summary>The stored templates the messages name (those whose body is not their own), in one query.</summary>
    async Task<Dictionary<string, MailTemplate>> TemplatesOf(
        List<OutboxMessage> messages,
        CancellationToken cancellationToken
    )
    {
        var ids = messages
            .Where(m => m is { Html: null, Template: not null })
            .Select(m => m.Template!)
            .Distinct()
            .ToArray();
        if (ids.Length == 0)
            return [];
        await using var query = store.QuerySession();
        var found = (await query.LoadManyAsync<MailTemplate>(cancellationToken, ids)).ToDictionary(
            t => t.Id
        );
        // The code's own templates are known without the database (a copy there serves the mail
        // written before a release changed their wording).
        foreach (var known in rules.Templates)
            found.TryAdd(known.Id, known);
        return found;
    }

    /// <summary>The subject and body a message is sent with: its own, or its template's.</summary>
    static RenderedMail? BodyOf(
        OutboxMessage message,
        Dictionary<string, MailTemplate> templates
    ) =>
        message.Html is { } html ? new RenderedMail(message.Subject, html, message.Text ?? "")
        : message.Template is { } id && templates.TryGetValue(id, out var template)
            ? new RenderedMail(template.Subject, template.Html, template.Text)
        : null;

    Task Unsendable(OutboxMessage[] messages, string error)
    {
        Failed(messages, error, permanent: true);
        return Task.CompletedTask;
    }

    /// <summary>Records a failed attempt of each message; a permanent failure is not retried.</summary>
    void Failed(OutboxMessage[] messages, string error, bool permanent)
    {
        metrics.Count("campaign.mails_failed", messages.Length);
        var now = clock.GetUtcNow();
        foreach (var message in messages)
        {
            message.MarkFailedAttempt(error, permanent, now);
            LogFailed(logger, message.Id, message.Attempts, error, message.Status.ToString());
        }
    }

    async Task SendLimited(
        OutboxMessage[] request,
        RenderedMail body,
        CancellationToken cancellationToken
    )
    {
        await sending.WaitAsync(cancellationToken);
        try
        {
            await SendSplitting(request, body, cancellationToken);
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
    async Task SendSplitting(
        OutboxMessage[] messages,
        RenderedMail body,
        CancellationToken cancellationToken
    )
    {
        var (status, providerId, error) = await sendGrid.Post(messages, body, cancellationToken);
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
            await SendSplitting(messages[..half], body, cancellationToken);
            await SendSplitting(messages[half..], body, cancellationToken);
            return;
        }
        if (status is 401 or 403)
        {
            // The key or the account is refused: a revoked key, one without the Mail Send
            // permission, the plan's credits spent, an unverified sender. Nothing is wrong with the
            // mail and nothing improves until an operator acts, so they are told, by the log and a
            // metric (not by mail: mail is what fails). The mail waits and is tried again.
            LogKeyRefused(logger, status.Value, messages[0].Id, messages.Length);
            metrics.Count("campaign.mail_auth_failed", messages.Length);
        }
        // 429, 5xx and network errors were already retried by the resilience handler; they, and a
        // refused key, are tried again after a wait. 400 (down to this one address) and 413 refuse
        // the mail itself, which no retry changes.
        Failed(messages, error, permanent: status is 400 or 413);
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
        Level = LogLevel.Error,
        Message = "SendGrid refused the key or the account status={Status} outbox_id={Id} count={Count}: check the API key and its Mail Send permission, the plan's credits and the verified sender; the mail waits and is retried"
    )]
    static partial void LogKeyRefused(ILogger logger, int status, Guid id, int count);

    [LoggerMessage(
        Level = LogLevel.Information,
        Message = "mail dropped outbox_id={Id} reason=\"{Reason}\""
    )]
    static partial void LogDropped(ILogger logger, Guid id, string reason);
}
