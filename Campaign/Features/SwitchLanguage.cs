using Microsoft.AspNetCore.Mvc;

namespace Campaign.Features;

/// <summary>
/// The language switch: a plain link (<c>/lang/en?return=/signup</c>) that remembers the choice in a
/// cookie and goes back to the page it came from (on this site only: no open redirect).
/// </summary>
public static class SwitchLanguage
{
    public static RedirectHttpResult Handle(
        string code,
        [FromQuery(Name = "return")] string? returnTo,
        HttpContext http
    )
    {
        var locale = Language.Parse(code) ?? Language.Japanese;
        http.Response.Cookies.Append(
            Language.Cookie,
            locale,
            new CookieOptions
            {
                MaxAge = TimeSpan.FromDays(365),
                HttpOnly = true,
                SameSite = SameSiteMode.Lax,
                Secure = http.Request.IsHttps,
                IsEssential = true,
            }
        );
        return TypedResults.LocalRedirect(IsLocal(returnTo) ? returnTo! : "/");
    }

    // As ASP.NET Core's own check for a local address (which LocalRedirect makes, throwing): a
    // control character (/%09/x) is refused here, so that the answer is "/" and never a 500.
    static bool IsLocal(string? path) =>
        path is { Length: > 0 }
        && path[0] == '/'
        && (path.Length == 1 || (path[1] != '/' && path[1] != '\\'))
        && !path.Any(char.IsControl);
}
