using Marten;

namespace Campaign.Mail;

public enum OutboxStatus
{
    Pending,
    Sent,

    /// <summary>Not sent on purpose: its entrant withdrew, or it expired (a sign-in link is useless after 30 minutes).</summary>
    Dropped,

    /// <summary>The provider refused it for good (a 4xx other than 429), or it failed too many times.</summary>
    Failed,
}

/// <summary>
/// A mail to send, written in the same transaction as the change that causes it, so no change is
/// ever left without its mail and no mail goes out for a change that was rolled back. Relays claim a
/// message with a short lease, send it outside any transaction, then record the outcome. The body is
/// erased once sent: it may hold a sign-in link.
/// </summary>
public sealed class OutboxMessage
{
    public const int MaxAttempts = 8;

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

    /// <summary>Lower-cased <see cref="To"/>, for the per-address cap.</summary>
    public required string ToKey { get; set; }
    public required string Subject { get; set; }

    /// <summary>
    /// Campaign mail is rendered once per language with placeholders (<see cref="Template"/> names
    /// that rendering), and <see cref="Substitutions"/> holds each recipient's values: the relay then
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
        MailKind kind = MailKind.Transactional,
        string? template = null,
        Dictionary<string, string>? substitutions = null,
        Dictionary<string, string>? headers = null
    ) =>
        new()
        {
            Headers = headers,
            Template = template,
            Substitutions = substitutions,
            // The id follows from the de-duplication key: writing the same message twice (a re-run,
            // a second clock) is an insert of an id that exists, which a bulk insert skips.
            Id = IdOf(dedupKey),
            Kind = kind,
            DedupKey = dedupKey,
            EntrantId = entrantId,
            To = to,
            ToKey = to.ToLowerInvariant(),
            Subject = mail.Subject,
            Html = mail.Html,
            Text = mail.Text,
            Status = OutboxStatus.Pending,
            CreatedAt = now,
            ExpiresAt = expiresAt,
        };

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
        Html = null;
        Text = null;
    }

    public void MarkFailedAttempt(string error, bool permanent)
    {
        Attempts++;
        LastError = error;
        ClaimedUntil = null;
        if (permanent || Attempts >= MaxAttempts)
            Status = OutboxStatus.Failed;
    }

    public void Drop(string reason)
    {
        Status = OutboxStatus.Dropped;
        LastError = reason;
        ClaimedUntil = null;
        Html = null;
        Text = null;
    }

    public static void Configure(StoreOptions options) =>
        options
            .Schema.For<OutboxMessage>()
            .UniqueIndex(x => x.DedupKey)
            // Real columns, so that the relay can claim with plain SQL and indexes.
            .Duplicate(x => x.Status, pgType: "varchar")
            .Duplicate(x => x.CreatedAt, pgType: "timestamptz")
            .Duplicate(x => x.ClaimedUntil, pgType: "timestamptz")
            .Duplicate(x => x.ToKey)
            .Duplicate(x => x.EntrantId);
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
