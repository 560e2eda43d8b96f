using Campaign.Features.Entering;
using Campaign.Mail;
using Campaign.Pages;
using Campaign.Platform;
using Coravel.Queuing.Interfaces;
using Marten;
using Microsoft.AspNetCore.Mvc;

namespace Campaign.Features.SignIn;

/// <summary>
/// "Send me a new link": the form on <c>/me</c> for a visitor who is not signed in, for an address
/// that entered before (also after the campaign ends) or an operator's. An unknown address gets no
/// mail and the same answer; so does an unconfirmed one once the hour's budget of mail to
/// unconfirmed addresses is spent (<see cref="MailBudget"/>), and a mailbox past its share.
/// </summary>
public static class RequestLink
{
    public sealed record LinkForm
    {
        public string? Email { get; init; }
    }

    public static IResult HandleForm(
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
        var minutes = SignInToken.Lifetime.TotalMinutes;
        return Page.Show<MessagePage>(
            new
            {
                Locale = locale,
                Title = Language.Say(locale, "メールをご確認ください", "Check your inbox"),
                Lines = new[]
                {
                    Language.Say(
                        locale,
                        $"応募済みのアドレスであれば、サインイン用のリンクをお送りしました。リンクは{minutes}分間有効です。",
                        $"If the address has entered, we sent it a sign-in link. The link works for {minutes} minutes."
                    ),
                },
                Here = "/sign-in/sent",
                LinkHref = "/me",
                LinkText = Language.Say(locale, "マイページへ", "To my page"),
            }
        );
    }

    /// <summary>Writes the link under the address's lock, if one is due, commits, and queues its mail.</summary>
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
        await SignInLink.EnsureTemplates(templates, cancellationToken);
        var now = clock.GetUtcNow();
        await using var transaction = await OwnedTransaction.BeginAsync(store, cancellationToken);
        var session = transaction.Session;
        var address = (await AddressLock.TakeAsync(session, [email], now, cancellationToken))[0];
        if (address.RecentMails >= AddressLock.MailsPerWindow)
            return;
        OutboxMessage mail;
        // An operator's address gets an operator's link, whether or not it also entered.
        if (Ops.Operators.KeyOf(settings, email) is { } operatorKey)
            mail = SignInLink.WriteForOperator(session, email, operatorKey, locale, settings, now);
        else if (
            address.Entrant is { } entrant
            && (entrant.Status == EntrantStatus.Confirmed || await budget.TryTake(email))
        )
            mail = SignInLink.Write(session, entrant, locale, firstEntry: false, settings, now);
        else
            return;
        // Not cancelled when the client goes away: a commit whose answer is cut off would leave its
        // mail unqueued until the sweep. The command timeout bounds it.
        await transaction.CommitAsync();
        queue.QueueInvocableWithPayload<DeliverMail, IReadOnlyList<OutboxMessage>>([mail]);
    }
}
