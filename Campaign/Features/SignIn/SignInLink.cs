using Campaign.Features.Entering;
using Campaign.Mail;
using Campaign.Platform;
using Coravel.Queuing.Interfaces;
using Marten;

namespace Campaign.Features.SignIn;

/// <summary>
/// Writing a sign-in link mail, shared by entering and by asking for a new link. Called inside a
/// transaction that holds the address's lock, so the per-address cap is counted exactly.
/// </summary>
public static class SignInLink
{
    /// <summary>At most this many mails per address per window, however many requests come.</summary>
    public const int MailsPerWindow = 3;
    public static readonly TimeSpan MailWindow = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Starts the transaction and takes a lock on the address until it ends: requests for one
    /// address queue up here, so a count and an insert after it are exact.
    /// </summary>
    public static async Task LockAddress(
        IDocumentSession session,
        string key,
        CancellationToken cancellationToken
    )
    {
        await session.BeginTransactionAsync(cancellationToken);
        await session.QueryAsync<int>(
            "select 1 from pg_advisory_xact_lock(hashtextextended(?, 0))",
            cancellationToken,
            "address:" + key
        );
    }

    public static Task<Entrant?> FindEntrant(
        IQuerySession session,
        string key,
        CancellationToken cancellationToken
    ) =>
        session
            .Query<Entrant>()
            .SingleOrDefaultAsync(x => x.Email.ToLower() == key, cancellationToken);

    /// <summary>Adds a token and its mail to the session, unless the address has had its share of mails.</summary>
    public static async Task<OutboxMessage?> Write(
        IDocumentSession session,
        Entrant entrant,
        string locale,
        bool firstEntry,
        Settings settings,
        DateTimeOffset now,
        CancellationToken cancellationToken
    )
    {
        var key = Entrant.KeyOf(entrant.Email);
        var since = now - MailWindow;
        var recentMails = await session
            .Query<OutboxMessage>()
            .CountAsync(m => m.ToKey == key && m.CreatedAt > since, cancellationToken);
        if (recentMails >= MailsPerWindow)
            return null;

        var (token, stored) = SignInToken.Issue(entrant.Id, now);
        var link = SignInMail.Link(settings.AppBaseUrl, token);
        var mail = OutboxMessage.For(
            $"sign-in:{stored.Id}",
            entrant.Id,
            entrant.Email,
            SignInMail.Render(locale, entrant.DisplayName, firstEntry, link),
            now,
            stored.ExpiresAt
        );
        session.Insert(stored);
        session.Insert(mail);
        return mail;
    }

    /// <summary>
    /// "Send me a new link" for an address that entered before (also after the campaign ends). An
    /// unknown address gets no mail and the same answer.
    /// </summary>
    public static async Task Request(
        string email,
        string locale,
        IDocumentSession session,
        Settings settings,
        TimeProvider clock,
        IQueue queue,
        CancellationToken cancellationToken
    )
    {
        var key = Entrant.KeyOf(EntryInput.Normalize(email));
        await LockAddress(session, key, cancellationToken);
        if (await FindEntrant(session, key, cancellationToken) is not { } entrant)
            return;
        var mail = await Write(
            session,
            entrant,
            locale,
            firstEntry: false,
            settings,
            clock.GetUtcNow(),
            cancellationToken
        );
        await session.SaveChangesAsync(cancellationToken);
        if (mail is not null)
            queue.QueueInvocableWithPayload<DeliverMail, Guid>(mail.Id);
    }
}
