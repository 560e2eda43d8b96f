using Campaign.Features.SignIn;
using Campaign.Mail;
using Campaign.Platform;
using Coravel.Queuing.Interfaces;
using Marten;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Campaign.Features.Entering;

/// <summary>
/// Entering the campaign: <c>POST /api/v1/entries</c> and the <c>/signup</c> form. A new address
/// becomes a pending entrant; an address already entered gets a sign-in link instead, and from
/// outside both look the same (nobody can find out who entered). The entrant, the token and the
/// mail are written in one transaction; the mail leaves after the commit.
/// </summary>
public static class SubmitEntry
{
    /// <summary>The entry as a client sends it. Missing fields are answered by validation (422).</summary>
    public sealed record EntryRequest(
        string Email,
        string DisplayName,
        bool Consent,
        string? Locale = null,
        bool CampaignMail = false
    );

    public sealed record Receipt(string Message);

    public enum Outcome
    {
        Accepted,
        Closed,
    }

    public static async Task<Results<Accepted<Receipt>, ProblemHttpResult>> Handle(
        EntryRequest request,
        HttpContext http,
        IDocumentSession session,
        Settings settings,
        TimeProvider clock,
        IQueue queue,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Parse(request.Locale) ?? Language.Of(http);
        var (input, errors) = EntryInput.Check(
            request.Email,
            request.DisplayName,
            request.Consent,
            request.CampaignMail,
            locale
        );
        if (input is null)
            return Problems.Validation(errors, locale);

        return await Enter(input, session, settings, clock, queue, cancellationToken) switch
        {
            Outcome.Closed => Problems.CampaignClosed(locale),
            _ => TypedResults.Accepted(
                (string?)null,
                new Receipt(
                    Language.Say(
                        locale,
                        "受け付けました。メールに届くリンクから応募を確定してください。",
                        "Received. Confirm your entry with the link in the mail we send you."
                    )
                )
            ),
        };
    }

    public static async Task<Outcome> Enter(
        EntryInput input,
        IDocumentSession session,
        Settings settings,
        TimeProvider clock,
        IQueue queue,
        CancellationToken cancellationToken
    )
    {
        var now = clock.GetUtcNow();
        if (!GetCampaign.IsOpen(settings.Campaign, now))
            return Outcome.Closed;

        var key = Entrant.KeyOf(input.Email);
        await SignInLink.LockAddress(session, key, cancellationToken);
        var entrant = await SignInLink.FindEntrant(session, key, cancellationToken);
        var firstEntry = entrant is null;
        if (entrant is null)
        {
            entrant = Entrant.Enter(input, now);
            session.Insert(entrant);
        }
        // An existing entrant's name is never changed by an unauthenticated request.
        var mail = await SignInLink.Write(
            session,
            entrant,
            input.Locale,
            firstEntry,
            settings,
            now,
            cancellationToken
        );
        await session.SaveChangesAsync(cancellationToken);

        if (mail is not null)
            queue.QueueInvocableWithPayload<DeliverMail, Guid>(mail.Id);
        return Outcome.Accepted;
    }
}
