using Campaign.Features.Entering;
using Campaign.Mail;
using Campaign.Platform;
using Marten;

namespace Campaign.Features.SignIn;

/// <summary>
/// Writing a sign-in link: its token and its mail, added to a session whose transaction holds the
/// address's lock (<see cref="AddressLock"/>), where the caller has counted the mailbox's share
/// (<see cref="AddressLock.MailsPerWindow"/>). Used by entering (<see cref="EntryBatches"/>, which
/// issues a batch's links and writes them together) and by asking for a new link
/// (<see cref="RequestLink"/>); the caller commits, then queues the mail.
/// </summary>
public static class SignInLink
{
    /// <summary>Stores the sign-in mails' templates, once per process, before a first mail names them.</summary>
    public static Task EnsureTemplates(
        MailTemplate.Store templates,
        CancellationToken cancellationToken
    ) => templates.Ensure(SignInMail.Templates, cancellationToken);

    /// <summary>Adds an entrant's token and its mail to the session.</summary>
    public static OutboxMessage Write(
        IDocumentSession session,
        Entrant entrant,
        string locale,
        bool firstEntry,
        Settings settings,
        DateTimeOffset now
    ) => Insert(session, Issue(entrant, locale, firstEntry, settings, now));

    /// <summary>
    /// An entrant's token and its mail, not written yet: a batch of entries writes all of theirs at
    /// once (<see cref="BatchWrites"/>).
    /// </summary>
    public static (SignInToken Token, OutboxMessage Mail) Issue(
        Entrant entrant,
        string locale,
        bool firstEntry,
        Settings settings,
        DateTimeOffset now
    ) =>
        Link(
            SignInToken.Issue(entrant.Id, now),
            entrant.Email,
            MailKind.Transactional,
            locale,
            firstEntry,
            settings,
            now
        );

    /// <summary>An operator's link (to the dashboard, <c>/ops</c>).</summary>
    public static OutboxMessage WriteForOperator(
        IDocumentSession session,
        string email,
        string operatorKey,
        string locale,
        Settings settings,
        DateTimeOffset now
    ) =>
        Insert(
            session,
            Link(
                SignInToken.IssueForOperator(operatorKey, now),
                email,
                MailKind.Operator,
                locale,
                firstEntry: false,
                settings,
                now
            )
        );

    static OutboxMessage Insert(
        IDocumentSession session,
        (SignInToken Token, OutboxMessage Mail) link
    )
    {
        session.Insert(link.Token);
        session.Insert(link.Mail);
        return link.Mail;
    }

    static (SignInToken Token, OutboxMessage Mail) Link(
        (string Token, SignInToken Stored) issued,
        string to,
        MailKind kind,
        string locale,
        bool firstEntry,
        Settings settings,
        DateTimeOffset now
    )
    {
        var (token, stored) = issued;
        var link = SignInMail.Link(settings.AppBaseUrl, token);
        // The template is stored already (EnsureTemplates); the message holds the link.
        var mail = OutboxMessage.Of(
            SignInMail.Template(locale, firstEntry),
            $"sign-in:{stored.Id}",
            stored.EntrantId,
            to,
            now,
            stored.ExpiresAt,
            kind,
            SignInMail.Substitutions(link)
        );
        // Sent by this process's queue once the transaction commits (the caller queues it).
        MailRelay.ClaimForOwnQueue(mail, now);
        return (stored, mail);
    }
}
