using System.Security.Claims;
using Campaign.Platform;

namespace Campaign.Features.SignIn;

/// <summary>Who is signed in: the session holds the entrant's id and nothing else about them.</summary>
public static class CurrentEntrant
{
    public static ClaimsPrincipal Principal(Guid entrantId) =>
        new(
            new ClaimsIdentity(
                [new Claim(ClaimTypes.NameIdentifier, entrantId.ToString())],
                Microsoft
                    .AspNetCore
                    .Authentication
                    .Cookies
                    .CookieAuthenticationDefaults
                    .AuthenticationScheme
            )
        );

    public static Guid? EntrantIdOrNull(this ClaimsPrincipal user) =>
        Guid.TryParse(user.FindFirst(ClaimTypes.NameIdentifier)?.Value, out var id) ? id : null;

    /// <summary>Only behind <see cref="Require"/>, which guarantees a signed-in entrant.</summary>
    public static Guid EntrantId(this ClaimsPrincipal user) =>
        user.EntrantIdOrNull() ?? throw new InvalidOperationException("no entrant is signed in");

    /// <summary>
    /// The route-group filter in front of everything that needs a signed-in entrant: without one
    /// the API answers 401 problem. (Giraffe's <c>mustBeUser &gt;=&gt; handler</c>.)
    /// </summary>
    public static ValueTask<object?> Require(
        EndpointFilterInvocationContext context,
        EndpointFilterDelegate next
    ) =>
        context.HttpContext.User.EntrantIdOrNull() is null
            ? ValueTask.FromResult<object?>(Problems.NotSignedIn(Language.Of(context.HttpContext)))
            : next(context);
}
