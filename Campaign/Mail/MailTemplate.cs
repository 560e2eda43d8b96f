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

    /// <summary>The placeholder for the recipient's name in the text part, as typed.</summary>
    public const string NameInText = "-name-";

    /// <summary>The placeholder for the recipient's name in the HTML part, HTML-escaped.</summary>
    public const string NameInHtml = "-name_html-";

    /// <summary>
    /// A template whose id names its content too (<c>sign-in:ja:entry:1a2b3c4d5e6f</c>): when a
    /// release changes the wording, the new wording gets a new id, and mail written before the
    /// release still goes out with the wording it was written with.
    /// </summary>
    public static MailTemplate Versioned(string name, RenderedMail mail, DateTimeOffset now)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"{mail.Subject}\n{mail.Html}\n{mail.Text}")
        );
        return Of($"{name}:{Convert.ToHexStringLower(hash)[..12]}", mail, now);
    }

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

    /// <summary>
    /// Stores templates that the code renders (the sign-in mails) once per process, before the
    /// first message that names them is written. Storing is an upsert: every dyno may do it.
    /// </summary>
    public sealed class Store(IDocumentStore store)
    {
        readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<Task>> stored =
            new();

        public async Task Ensure(
            IReadOnlyCollection<MailTemplate> templates,
            CancellationToken cancellationToken
        )
        {
            var key = string.Join(",", templates.Select(t => t.Id));
            var storing = stored.GetOrAdd(
                key,
                _ => new Lazy<Task>(() => Save(templates, CancellationToken.None))
            );
            try
            {
                await storing.Value.WaitAsync(cancellationToken);
            }
            catch when (storing.Value.IsFaulted)
            {
                stored.TryRemove(key, out _); // the next caller tries again
                throw;
            }
        }

        async Task Save(
            IReadOnlyCollection<MailTemplate> templates,
            CancellationToken cancellationToken
        )
        {
            await using var session = store.LightweightSession();
            session.Store(templates.ToArray());
            await session.SaveChangesAsync(cancellationToken);
        }
    }
}
