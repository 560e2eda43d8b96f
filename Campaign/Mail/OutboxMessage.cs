using Marten;

namespace Campaign.Mail;

public enum OutboxStatus
{
    Pending,
    Sent,

    /// <summary>Not sent on purpose: its entrant withdrew, or it expired (a sign-in link is useless after 30 minutes).</summary>
    Dropped,

    /// <summary>
    /// The provider refused the mail itself (400 for this one address, 413), its template is
    /// missing, or it failed <see cref="OutboxMessage.MaxAttempts"/> times.
    /// </summary>
    Failed,
}

/// <summary>
/// A mail to send, written in the same transaction as the change that causes it, so no change is
/// ever left without its mail and no mail goes out for a change that was rolled back. Relays claim a
/// message with a short lease, send it outside any transaction, then record the outcome; one that
/// failed waits before its next attempt (<see cref="MarkFailedAttempt"/>). The body and the
/// recipient's values are erased once sent: they may hold a sign-in link.
/// </summary>
public sealed class OutboxMessage
{
    /// <summary>
    /// With the waits of <see cref="RetryDelay"/>, the last attempt comes over 12 hours after the
    /// first: mail with an expiry (a sign-in link 30 minutes, a reminder 12 hours after its send
    /// time) expires before an outage can use its attempts up. Only mail without one (to operators)
    /// ever fails this way.
    /// </summary>
    public const int MaxAttempts = 30;

    /// <summary>The longest wait between two attempts.</summary>
    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMinutes(30);

    public Guid Id { get; set; }

    /// <summary>
    /// Transactional mail (sign-in links) is always sent; campaign mail (reminders) only while its
    /// entrant still qualifies; operator mail has no entrant.
    /// </summary>
    public MailKind Kind { get; set; }

    /// <summary>One message per key: a re-run of whatever wrote it adds nothing.</summary>
    public required string DedupKey { get; set; }
    public Guid EntrantId { get; set; }
    public required string To { get; set; }

    /// <summary>The mailbox <see cref="To"/> reaches (<see cref="Mailbox.Key"/>), for the per-mailbox cap.</summary>
    public required string ToKey { get; set; }
    public required string Subject { get; set; }

    /// <summary>
    /// Mail that many receive (reminders, sign-in links) is rendered once per language with
    /// placeholders, and stored once as a <see cref="MailTemplate"/> that this names; <see cref="Substitutions"/> holds each
    /// recipient's values, and <see cref="Html"/> and <see cref="Text"/> stay empty. The relay then
    /// sends up to 1000 recipients of one template in a single SendGrid request.
    /// </summary>
    public string? Template { get; set; }
    public Dictionary<string, string>? Substitutions { get; set; }

    /// <summary>Each recipient's own mail headers (List-Unsubscribe).</summary>
    public Dictionary<string, string>? Headers { get; set; }
    public string? Html { get; set; }
    public string? Text { get; set; }
    public OutboxStatus Status { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public int Attempts { get; set; }
    public string? LastError { get; set; }

    /// <summary>
    /// No relay takes the message before this time: the lease of the relay that is sending it, or
    /// the wait after a failed attempt. Null once sent, dropped or failed for good.
    /// </summary>
    public DateTimeOffset? ClaimedUntil { get; set; }
    public DateTimeOffset? SentAt { get; set; }
    public string? ProviderMessageId { get; set; }

    public static OutboxMessage For(
        string dedupKey,
        Guid entrantId,
        string to,
        RenderedMail mail,
        DateTimeOffset now,
        DateTimeOffset? expiresAt,
        MailKind kind = MailKind.Transactional
    ) =>
        new()
        {
            // The id follows from the de-duplication key: the same message written twice (a re-run,
            // a second clock) has an id that exists, which the nightly run leaves out.
            Id = IdOf(dedupKey),
            Kind = kind,
            DedupKey = dedupKey,
            EntrantId = entrantId,
            To = to,
            // The mailbox: the cap on sign-in mail counts per inbox (read under the address lock).
            ToKey = Mailbox.Key(to),
            Subject = mail.Subject,
            Html = mail.Html,
            Text = mail.Text,
            Status = OutboxStatus.Pending,
            CreatedAt = now,
            ExpiresAt = expiresAt,
        };

    /// <summary>One recipient of a stored template, with their values for its placeholders.</summary>
    public static OutboxMessage Of(
        MailTemplate template,
        string dedupKey,
        Guid entrantId,
        string to,
        DateTimeOffset now,
        DateTimeOffset? expiresAt,
        MailKind kind,
        Dictionary<string, string> substitutions,
        Dictionary<string, string>? headers = null
    )
    {
        var message = For(
            dedupKey,
            entrantId,
            to,
            new RenderedMail(template.Subject, "", ""),
            now,
            expiresAt,
            kind
        );
        message.Template = template.Id;
        message.Html = null;
        message.Text = null;
        message.Substitutions = substitutions;
        message.Headers = headers;
        return message;
    }

    public static Guid IdOf(string dedupKey) =>
        new(
            System.Security.Cryptography.SHA256.HashData(
                System.Text.Encoding.UTF8.GetBytes(dedupKey)
            )[..16]
        );

    public void MarkSent(string? providerMessageId, DateTimeOffset now)
    {
        Status = OutboxStatus.Sent;
        SentAt = now;
        ProviderMessageId = providerMessageId;
        Attempts++;
        ClaimedUntil = null;
        Forget();
    }

    /// <summary>What a sent or dropped message no longer needs, and may not keep: its body and each
    /// recipient's values (a sign-in link among them).</summary>
    void Forget()
    {
        Html = null;
        Text = null;
        Substitutions = null;
        Headers = null;
    }

    /// <summary>
    /// The wait after the <paramref name="attempts"/>-th failed attempt: 1, 2, 4, 8, 16 minutes,
    /// then <see cref="MaxRetryDelay"/>. A short outage costs a few attempts, a long one one every
    /// half hour, and the mail leaves at most half an hour after SendGrid is back.
    /// </summary>
    public static TimeSpan RetryDelay(int attempts)
    {
        var doubled = TimeSpan.FromMinutes(1 << Math.Clamp(attempts - 1, 0, 5));
        return doubled < MaxRetryDelay ? doubled : MaxRetryDelay;
    }

    /// <summary>
    /// Records a failed attempt. A permanent failure, or the last attempt, ends the message;
    /// otherwise it waits <see cref="RetryDelay"/> (<see cref="ClaimedUntil"/>), but never past its
    /// expiry: the first sweep after that drops it.
    /// </summary>
    public void MarkFailedAttempt(string error, bool permanent, DateTimeOffset now)
    {
        Attempts++;
        LastError = error;
        if (permanent || Attempts >= MaxAttempts)
        {
            Status = OutboxStatus.Failed;
            ClaimedUntil = null;
            return;
        }
        var next = now + RetryDelay(Attempts);
        ClaimedUntil = ExpiresAt is { } expiresAt && expiresAt < next ? expiresAt : next;
    }

    public void Drop(string reason)
    {
        Status = OutboxStatus.Dropped;
        LastError = reason;
        ClaimedUntil = null;
        Forget();
    }

    /// <summary>Registers the document with the schema that <c>db-apply</c> creates and migrates.</summary>
    public static void Configure(StoreOptions options) => options.Schema.For<OutboxMessage>();

    /// <summary>
    /// Real columns, so that the relay can claim with plain SQL. Every index is paid for by each
    /// write of a message (three per mail), so there are four: the id (which follows from the
    /// de-duplication key, so the key needs no index of its own), the address and the entrant
    /// (the mail cap, withdrawal), and the waiting messages only, in age order (the relay's claims,
    /// the backlog). The status and the lease are columns without an index of their own: a message
    /// is found by its id or its age, and an index each would add two entries to every mail written
    /// for queries that the index by age already serves (<c>Duplicate</c> always adds an index,
    /// <c>DuplicateField</c> only the column). Marten calls this when it maps the type.
    /// </summary>
    public static void ConfigureMarten(Marten.Schema.DocumentMapping<OutboxMessage> mapping)
    {
        mapping.Duplicate(x => x.CreatedAt, pgType: "timestamptz", configure: Waiting);
        mapping.Duplicate(x => x.ToKey);
        mapping.Duplicate(x => x.EntrantId);
        mapping.DuplicateField(nameof(Status), pgType: "varchar");
        mapping.DuplicateField(nameof(ClaimedUntil), pgType: "timestamptz");
    }

    /// <summary>An index of the waiting messages only: a message leaves it once sent.</summary>
    static void Waiting(Marten.Schema.DocumentIndex index) =>
        index.Predicate = "status = 'Pending'";
}

public sealed record RenderedMail(string Subject, string Html, string Text)
{
    /// <summary>A mail for operators: plain text, shown as it is in the HTML part too.</summary>
    public static RenderedMail Plain(string subject, string text) =>
        new(
            subject,
            $"<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\"></head><body><pre>{System.Net.WebUtility.HtmlEncode(text)}</pre></body></html>",
            text
        );
}

public enum MailKind
{
    Transactional,
    Campaign,
    Operator,
}
