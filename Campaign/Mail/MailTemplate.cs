using Marten;

namespace Campaign.Mail;

/// <summary>
/// A mail rendered once for many recipients, with placeholders for each one's values (a night's
/// reminder in one language). It is stored once, and each of its outbox messages holds only its
/// recipient and their values: 100,000 reminders are 100,000 small rows and two templates, not
/// 100,000 copies of the same HTML.
/// </summary>
public sealed class MailTemplate
{
    /// <summary>What was rendered, for which night and language, like <c>reminder:2026-12-01:ja</c>.</summary>
    public required string Id { get; set; }
    public required string Subject { get; set; }
    public required string Html { get; set; }
    public required string Text { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    public static MailTemplate Of(string id, RenderedMail mail, DateTimeOffset now) =>
        new()
        {
            Id = id,
            Subject = mail.Subject,
            Html = mail.Html,
            Text = mail.Text,
            CreatedAt = now,
        };

    public static void Configure(StoreOptions options) => options.Schema.For<MailTemplate>();
}
