using System.Security.Claims;
using Campaign.Features.Entering;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Campaign.Platform;
using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Campaign.Features.Me;

/// <summary>
/// Withdrawing: <c>DELETE /api/v1/me</c> and the button on <c>/me</c>. Deletes the entrant, their
/// sign-in tokens and mail records in one transaction, then their sessions on every device.
/// </summary>
public static class Withdraw
{
    public static async Task<NoContent> Handle(
        ClaimsPrincipal user,
        HttpContext http,
        IDocumentSession session,
        RedisSessionStore sessions,
        CancellationToken cancellationToken
    )
    {
        await Run(user.EntrantId(), session, sessions, cancellationToken);
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.NoContent();
    }

    public static async Task Run(
        Guid entrantId,
        IDocumentSession session,
        RedisSessionStore sessions,
        CancellationToken cancellationToken
    )
    {
        session.Delete<Entrant>(entrantId);
        session.DeleteWhere<SignInToken>(t => t.EntrantId == entrantId);
        // Unsent mail is deleted; a relay holding one right now finds no entrant and drops it.
        session.DeleteWhere<OutboxMessage>(m => m.EntrantId == entrantId);
        await session.SaveChangesAsync(cancellationToken);
        await sessions.EndAll(entrantId);
    }
}
