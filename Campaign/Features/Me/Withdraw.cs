using System.Security.Claims;
using Campaign.Features.Entering;
using Campaign.Features.Photos;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Campaign.Pages;
using Campaign.Platform;
using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using static Campaign.Features.Me.GetMe;

namespace Campaign.Features.Me;

/// <summary>
/// Withdrawing: <c>DELETE /api/v1/me</c> and the button on <c>/me</c>. Deletes the entrant, their
/// sign-in tokens, signed uploads and mail records in one transaction, then their sessions on every
/// device and every object under their prefix in the bucket; a tombstone (a hash of the address)
/// keeps a restore from bringing them back.
/// </summary>
public static class Withdraw
{
    public static async Task<NoContent> Handle(
        ClaimsPrincipal user,
        HttpContext http,
        IDocumentSession session,
        RedisSessionStore sessions,
        PhotoStorage storage,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        await Run(user.EntrantId(), session, sessions, storage, clock, cancellationToken);
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.NoContent();
    }

    public sealed record WithdrawForm
    {
        public bool Confirm { get; init; }
    }

    public static async Task<IResult> HandleForm(
        [FromForm] WithdrawForm? form,
        ClaimsPrincipal user,
        HttpContext http,
        IDocumentSession session,
        RedisSessionStore sessions,
        PhotoStorage storage,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        if (user.EntrantIdOrNull() is not { } id)
            return Page.SeeOther("/me");
        if (form?.Confirm != true)
        {
            var entrant = await session.LoadAsync<Entrant>(id, cancellationToken);
            if (entrant is null)
                return Page.SeeOther("/me");
            return Page.Show<MePage>(
                new
                {
                    Locale = locale,
                    Entrant = await ViewOf(entrant, storage, clock),
                    ConfirmMissing = true,
                },
                StatusCodes.Status422UnprocessableEntity
            );
        }
        await Run(id, session, sessions, storage, clock, cancellationToken);
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return Page.Show<MessagePage>(
            new
            {
                Locale = locale,
                Title = Language.Say(locale, "退会しました", "You have withdrawn"),
                Lines = new[]
                {
                    Language.Say(
                        locale,
                        "ご登録の情報をすべて削除し、すべての端末でサインアウトしました。ご参加ありがとうございました。",
                        "Everything you registered is deleted and you are signed out on every device. Thank you for taking part."
                    ),
                },
            }
        );
    }

    public static async Task Run(
        Guid entrantId,
        IDocumentSession session,
        RedisSessionStore sessions,
        PhotoStorage storage,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        if (await session.LoadAsync<Entrant>(entrantId, cancellationToken) is { } entrant)
            session.Store(
                new Backup.Withdrawal
                {
                    Id = Backup.Withdrawal.IdOf(entrant.Email),
                    WithdrawnAt = clock.GetUtcNow(),
                }
            );
        await Erase([entrantId], session, sessions, storage, clock.GetUtcNow(), cancellationToken);
    }

    /// <summary>
    /// Everything of these entrants, wherever it is: their documents, sign-in tokens, signed uploads
    /// and mail (sent or not) in one transaction, with a record of each prefix still to delete in
    /// the bucket (<see cref="PhotoErasure"/>); then their sessions on every device, and a first
    /// try at their objects. Whatever S3 does then (an error, a time-out), the erasure is done for
    /// the person and the clock finishes the bucket. Withdrawing and the retention purge both end
    /// here.
    /// </summary>
    public static async Task Erase(
        Guid[] ids,
        IDocumentSession session,
        RedisSessionStore sessions,
        PhotoStorage storage,
        DateTimeOffset now,
        CancellationToken cancellationToken
    )
    {
        session.DeleteWhere<Entrant>(e => ids.Contains(e.Id));
        session.DeleteWhere<PhotoUpload>(u => ids.Contains(u.EntrantId));
        session.DeleteWhere<SignInToken>(t => ids.Contains(t.EntrantId));
        // A relay holding one of their mails right now finds no entrant and drops it.
        session.DeleteWhere<OutboxMessage>(m => ids.Contains(m.EntrantId));
        session.Store(ids.Select(id => PhotoErasure.Of(id, now)).ToArray());
        await session.SaveChangesAsync(cancellationToken);
        await Task.WhenAll(ids.Select(sessions.EndAll));
        // Not with the request's token: a closed tab must not stop it halfway. Bounded, as the
        // clock tries again anyway.
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await storage.TryDeletePrefixes(ids.Select(PhotoRules.PrefixOf), "erasure", patience.Token);
    }
}
