using Campaign.Features;

namespace Campaign.Pages;

public static class ErrorPages
{
    /// <summary>Writes the friendly page for the response's status code, in the visitor's language.</summary>
    public static Task Write(HttpContext http) =>
        Page.Show<ErrorPage>(
                new { Locale = Language.Of(http), Status = http.Response.StatusCode },
                http.Response.StatusCode
            )
            .ExecuteAsync(http);
}
