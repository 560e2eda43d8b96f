using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Campaign.Mail;
using Campaign.Platform;

namespace Campaign.Features.Ops;

/// <summary>
/// The people who run the campaign (<c>OPERATOR_EMAILS</c>). They are not entrants: no entrant
/// document, never counted, reminded, exported or purged as one. They sign in with a mailed link like
/// an entrant's, into a session that names them only by a hash of their address, and membership is
/// checked again on every request: someone removed from the list loses the dashboard at once.
/// </summary>
public static class Operators
{
    const string ClaimType = "campaign:operator";

    /// <summary>The operator's key (a hash of the address), or null when the address is no operator's.</summary>
    public static string? KeyOf(Settings settings, string email) =>
        settings.Operators.Any(o => Mailbox.AddressKey(o.Address) == Mailbox.AddressKey(email))
            ? Hash(email)
            : null;

    public static bool IsOperator(Settings settings, string key) =>
        settings.Operators.Any(o => Hash(o.Address) == key);

    static string Hash(string email) =>
        Convert.ToHexStringLower(
            SHA256.HashData(Encoding.UTF8.GetBytes("operator:" + Mailbox.AddressKey(email)))
        );

    public static ClaimsPrincipal Principal(string key) =>
        new(
            new ClaimsIdentity(
                [
                    new Claim(ClaimTypes.NameIdentifier, $"operator:{key}"),
                    new Claim(ClaimType, key),
                ],
                Microsoft
                    .AspNetCore
                    .Authentication
                    .Cookies
                    .CookieAuthenticationDefaults
                    .AuthenticationScheme
            )
        );

    /// <summary>
    /// In front of everything under <c>/ops</c>: anyone but a current operator gets exactly what an
    /// unknown path gets (404, written by the status-code pages), so the dashboard's existence is
    /// not shown to them. Never cached.
    /// </summary>
    public static async ValueTask<object?> Require(
        EndpointFilterInvocationContext context,
        EndpointFilterDelegate next
    )
    {
        var http = context.HttpContext;
        var settings = http.RequestServices.GetRequiredService<Settings>();
        http.Response.Headers.CacheControl = "no-store";
        return http.User.FindFirst(ClaimType)?.Value is { } key && IsOperator(settings, key)
            ? await next(context)
            : TypedResults.NotFound();
    }
}
