using System.Security.Claims;
using Campaign.Features.Entering;
using Campaign.Pages;
using Campaign.Platform;
using JasperFx;
using Marten;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Campaign.Features.SignIn;

/// <summary>
/// Signing in with the token from a mail: <c>POST /api/v1/session</c> and the <c>/sign-in</c> form.
/// The token is used once; the first use also confirms the entry. The session itself lives in Redis
/// (<see cref="RedisSessionStore"/>); the cookie holds only its key.
/// </summary>
public static class StartSession
{
    public sealed record SessionRequest(string Token);

    public static async Task<Results<NoContent, ProblemHttpResult>> Handle(
        SessionRequest request,
        HttpContext http,
        IDocumentSession session,
        Settings settings,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        if (
            await SignIn(request.Token, http, session, settings, clock, cancellationToken)
            != SignedIn.Nobody
        )
            return TypedResults.NoContent();
        return Problems.TokenInvalid(Language.Of(http));
    }

    /// <summary>Who a token signed in: an entrant (to <c>/me</c>), an operator (to <c>/ops</c>), or nobody.</summary>
    public enum SignedIn
    {
        Nobody,
        Entrant,
        Operator,
    }

    public sealed record SessionForm
    {
        public string? Token { get; init; }
    }

    public static RazorComponentResult<SignInPage> ShowForm(HttpContext http) =>
        Page.Show<SignInPage>(new { Locale = Language.Of(http) });

    public static async Task<IResult> HandleForm(
        [FromForm] SessionForm? form,
        HttpContext http,
        IDocumentSession session,
        Settings settings,
        TimeProvider clock,
        CancellationToken cancellationToken
    ) =>
        await SignIn(form?.Token, http, session, settings, clock, cancellationToken) switch
        {
            SignedIn.Entrant => Page.SeeOther("/me"),
            SignedIn.Operator => Page.SeeOther("/ops"),
            _ => Page.Show<SignInPage>(
                new { Locale = Language.Of(http), Failed = true },
                StatusCodes.Status400BadRequest
            ),
        };

    /// <summary>
    /// Signs in whom the token names, or nobody for a token that is unknown, used or expired (one
    /// answer for all three), or an operator's token whose address is no longer an operator's.
    /// </summary>
    public static async Task<SignedIn> SignIn(
        string? token,
        HttpContext http,
        IDocumentSession session,
        Settings settings,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        token = token?.Trim();
        if (!SignInToken.LooksValid(token))
            return SignedIn.Nobody;
        var now = clock.GetUtcNow();
        var stored = await session.LoadAsync<SignInToken>(
            SignInToken.Hash(token!),
            cancellationToken
        );
        if (stored is null || !stored.TryUse(now))
            return SignedIn.Nobody;
        ClaimsPrincipal principal;
        SignedIn who;
        DateTimeOffset? confirmsEntryOf = null;
        if (stored.OperatorKey is { } operatorKey)
        {
            if (!Ops.Operators.IsOperator(settings, operatorKey))
                return SignedIn.Nobody;
            (principal, who) = (Ops.Operators.Principal(operatorKey), SignedIn.Operator);
        }
        else
        {
            var entrant = await session.LoadAsync<Entrant>(stored.EntrantId, cancellationToken);
            if (entrant is null)
                return SignedIn.Nobody;
            if (entrant.Status != EntrantStatus.Confirmed)
                confirmsEntryOf = entrant.CreatedAt;
            entrant.Confirm(now);
            session.Update(entrant);
            (principal, who) = (CurrentEntrant.Principal(entrant.Id), SignedIn.Entrant);
        }
        session.Update(stored);
        try
        {
            await session.SaveChangesAsync(cancellationToken);
        }
        catch (ConcurrencyException)
        {
            return SignedIn.Nobody; // the same token, used at the same moment by another request
        }
        if (confirmsEntryOf is { } entered)
        {
            http.RequestServices.GetRequiredService<Metrics>().Count("campaign.confirmations");
            // For the dashboard: of the entries made in that hour, how many are confirmed by now.
            http.RequestServices.GetRequiredService<HourlyTally>()
                .AddAt(entered, HourlyTally.EntriesConfirmed);
        }

        await http.SignInAsync(
            CookieAuthenticationDefaults.AuthenticationScheme,
            principal,
            new AuthenticationProperties { IsPersistent = true }
        );
        return who;
    }
}

/// <summary>Signing out: <c>DELETE /api/v1/session</c> and the sign-out button. The session is
/// deleted from Redis, so it ends on every dyno at once.</summary>
public static class EndSession
{
    public static async Task<NoContent> Handle(HttpContext http)
    {
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return TypedResults.NoContent();
    }

    // The form is read so that its anti-forgery token is checked: another site cannot sign a
    // visitor out.
    public static async Task<IResult> HandleForm(HttpContext http, IFormCollection form)
    {
        await http.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return Page.SeeOther("/");
    }
}
