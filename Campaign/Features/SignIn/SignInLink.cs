using Campaign.Features.Entering;
using Campaign.Mail;
using Campaign.Pages;
using Campaign.Platform;
using Coravel.Queuing.Interfaces;
using Marten;
using Microsoft.AspNetCore.Mvc;

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

    public sealed record LinkForm
    {
        public string? Email { get; init; }
    }

    /// <summary>The form on <c>/me</c> for a visitor who is not signed in.</summary>
    public static async Task<IResult> HandleForm(
        [FromForm] LinkForm? form,
        HttpContext http,
        IDocumentSession session,
        Settings settings,
        TimeProvider clock,
        IQueue queue,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        var email = EntryInput.Normalize(form?.Email);
        if (EntryInput.CheckEmail(email, locale) is { } error)
            return Page.Show<SignedOutPage>(
                new
                {
                    Locale = locale,
                    Email = form?.Email,
                    Errors = new Dictionary<string, string[]> { ["email"] = [error] },
                },
                StatusCodes.Status422UnprocessableEntity
            );
        await Request(email, locale, session, settings, clock, queue, cancellationToken);
        return Page.SeeOther("/sign-in/sent");
    }

    public static RazorComponentResult<MessagePage> ShowSent(HttpContext http)
    {
        var locale = Language.Of(http);
        return Page.Show<MessagePage>(
            new
            {
                Locale = locale,
                Title = Language.Say(locale, "メールをご確認ください", "Check your inbox"),
                Lines = new[]
                {
                    Language.Say(
                        locale,
                        "応募済みのアドレスであれば、サインイン用のリンクをお送りしました。リンクは30分間有効です。",
                        "If the address has entered, we sent it a sign-in link. The link works for 30 minutes."
                    ),
                },
                Here = "/sign-in/sent",
                LinkHref = "/me",
                LinkText = Language.Say(locale, "マイページへ", "To my page"),
            }
        );
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
