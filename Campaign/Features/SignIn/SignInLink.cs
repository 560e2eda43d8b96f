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
    /// What an address has, read under the lock of its mailbox: its entrant (if any), the mails its
    /// mailbox had in the window (whichever variant of the address they went to), and whether a
    /// withdrawal is on record for it (an entrant who left and comes back).
    /// </summary>
    public sealed record Address(Entrant? Entrant, long RecentMails, bool Withdrawn);

    /// <summary>
    /// Takes a lock on the address's mailbox (<see cref="Mailbox.Key"/>) until the transaction ends
    /// (an <see cref="OwnedTransaction"/>), then reads what the address has and how many mails its
    /// mailbox had in the window: requests for one mailbox queue up at the lock, so the count and an
    /// insert after it are exact. One statement, sent with BEGIN in one round trip: it calls
    /// <see cref="LockFunction"/>.
    /// </summary>
    public static async Task<Address> Lock(
        IDocumentSession session,
        string email,
        DateTimeOffset now,
        CancellationToken cancellationToken
    )
    {
        var read = await session.QueryAsync<AddressRead>(
            $"select {session.DocumentStore.Options.DatabaseSchemaName}.{LockFunctionName}(?, ?, ?, ?)",
            cancellationToken,
            Mailbox.Key(email),
            Mailbox.AddressKey(email),
            now - MailWindow,
            Backup.Withdrawal.IdOf(email)
        );
        var found = read.Single();
        return new Address(found.Entrant, found.RecentMails, found.Withdrawn);
    }

    /// <summary>The row the lock function answers (Marten reads a JSON column).</summary>
    sealed record AddressRead(Entrant? Entrant, long RecentMails, bool Withdrawn);

    const string LockFunctionName = "campaign_lock_mailbox";

    /// <summary>
    /// The lock and the read in one function, created with the schema (<c>db-apply</c>). The lock
    /// and the read must be two statements, as in READ COMMITTED a statement sees the database as
    /// it was when the statement began: a read in the statement that waits for the lock would not
    /// see what the lock's previous holder committed meanwhile. Each statement of a PL/pgSQL
    /// function (volatile, the default) sees the database anew, so the read after the lock does.
    /// Written as PostgreSQL prints it back (<c>pg_get_functiondef</c>), so that <c>db-assert</c>
    /// finds it unchanged after <c>db-apply</c>. One statement instead of two saves the app and
    /// PostgreSQL a statement's work per entry. <c>lower(data ->> 'email')</c> is the expression
    /// of the entrants' unique index.
    /// </summary>
    static string LockFunction(string schema) =>
        $$"""
            CREATE OR REPLACE FUNCTION {{schema}}.{{LockFunctionName}}(mailbox text, address text, since timestamp with time zone, withdrawal character varying)
             RETURNS jsonb
             LANGUAGE plpgsql
            AS $function$
            begin
              -- Advisory locks belong to the whole database: the schema is part of the key.
              perform pg_advisory_xact_lock(hashtextextended('mailbox:{{schema}}:' || mailbox, 0));
              return jsonb_build_object(
                'entrant', (select d.data from {{schema}}.mt_doc_entrant d where lower(d.data ->> 'email') = address),
                'recentMails', (select count(*) from {{schema}}.mt_doc_outboxmessage m where m.to_key = mailbox and m.created_at > since),
                'withdrawn', exists (select 1 from {{schema}}.mt_doc_withdrawal w where w.id = withdrawal));
            end;
            $function$;
            """;

    /// <summary>Adds <see cref="LockFunction"/> to the schema that Marten creates and migrates.</summary>
    public static void Configure(StoreOptions options) =>
        options.Storage.ExtendedSchemaObjects.Add(
            Weasel.Postgresql.Functions.Function.ForSql(LockFunction(options.DatabaseSchemaName))
        );

    /// <summary>Stores the sign-in mails' templates, once per process, before a first mail names them.</summary>
    public static Task EnsureTemplates(
        MailTemplate.Store templates,
        CancellationToken cancellationToken
    ) => templates.Ensure(SignInMail.Templates, cancellationToken);

    /// <summary>Adds a token and its mail to the session, unless the address has had its share of mails.</summary>
    public static OutboxMessage? Write(
        IDocumentSession session,
        Address address,
        Entrant entrant,
        string locale,
        bool firstEntry,
        Settings settings,
        DateTimeOffset now
    ) =>
        address.RecentMails >= MailsPerWindow
            ? null
            : WriteLink(
                session,
                SignInToken.Issue(entrant.Id, now),
                entrant.Email,
                MailKind.Transactional,
                locale,
                firstEntry,
                settings,
                now
            );

    /// <summary>An operator's link (to the dashboard, <c>/ops</c>), within the same share of mails.</summary>
    static OutboxMessage? WriteForOperator(
        IDocumentSession session,
        Address address,
        string email,
        string operatorKey,
        string locale,
        Settings settings,
        DateTimeOffset now
    ) =>
        address.RecentMails >= MailsPerWindow
            ? null
            : WriteLink(
                session,
                SignInToken.IssueForOperator(operatorKey, now),
                email,
                MailKind.Operator,
                locale,
                firstEntry: false,
                settings,
                now
            );

    static OutboxMessage WriteLink(
        IDocumentSession session,
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
        IDocumentStore store,
        Settings settings,
        TimeProvider clock,
        IQueue queue,
        MailTemplate.Store templates,
        MailBudget budget
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
        // Answered before the work, which this process's queue does next: a known address (a
        // link written and committed) and an unknown one (nothing written) take the same time to
        // answer, so the answer's time does not tell who has entered.
        queue.QueueAsyncTask(() =>
            Request(email, locale, store, settings, clock, queue, templates, budget, default)
        );
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
    /// unknown address gets no mail and the same answer; so does an unconfirmed one once the hour's
    /// budget of mail to unconfirmed addresses is spent (<see cref="MailBudget"/>).
    /// </summary>
    public static async Task Request(
        string email,
        string locale,
        IDocumentStore store,
        Settings settings,
        TimeProvider clock,
        IQueue queue,
        MailTemplate.Store templates,
        MailBudget budget,
        CancellationToken cancellationToken
    )
    {
        await EnsureTemplates(templates, cancellationToken);
        var now = clock.GetUtcNow();
        await using var transaction = await OwnedTransaction.BeginAsync(store, cancellationToken);
        var address = await Lock(transaction.Session, email, now, cancellationToken);
        // An operator's address gets an operator's link, whether or not it also entered.
        if (Ops.Operators.KeyOf(settings, email) is { } operatorKey)
        {
            await Commit(
                transaction,
                queue,
                WriteForOperator(
                    transaction.Session,
                    address,
                    email,
                    operatorKey,
                    locale,
                    settings,
                    now
                )
            );
            return;
        }
        if (address.Entrant is not { } entrant)
            return;
        if (
            entrant.Status != EntrantStatus.Confirmed
            && address.RecentMails < MailsPerWindow
            && !await budget.TryTake(email)
        )
            return;
        var mail = Write(
            transaction.Session,
            address,
            entrant,
            locale,
            firstEntry: false,
            settings,
            now
        );
        await Commit(transaction, queue, mail);
    }

    /// <summary>
    /// Commits the writes with the transaction that holds the address's lock, then hands the mail
    /// (if one was written) to this process's queue. Not cancelled when the client goes away: a
    /// commit whose answer is cut off would leave its mail unqueued until the sweep. The command
    /// timeout bounds it.
    /// </summary>
    public static async Task Commit(OwnedTransaction transaction, IQueue queue, OutboxMessage? mail)
    {
        await transaction.CommitAsync();
        if (mail is not null)
            queue.QueueInvocableWithPayload<DeliverMail, OutboxMessage>(mail);
    }
}
