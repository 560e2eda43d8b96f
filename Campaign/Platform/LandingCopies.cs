using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Primitives;

namespace Campaign.Platform;

/// <summary>
/// The landing page is what a crowd hits first. Each dyno keeps its rendered copy per language for
/// a few seconds and answers from it before the rest of the pipeline runs (static files, time-outs,
/// authentication, antiforgery, the endpoint: none of them is needed for a page that is the same for
/// everyone): a spike costs PostgreSQL one count per language per dyno every few seconds, and each
/// visitor one write of the copy, with its length. A per-dyno copy needs no Redis round trip and no
/// Redis memory (Heroku Redis mini has 25 MB for sessions); the price is that two dynos may show
/// counts a few seconds apart. A signed-in visitor gets the copy too, so a visit to the landing page
/// does not extend their session (every other page does).
/// <para>
/// A copy is made of what the page's endpoint answered: status 200, without a cookie and without
/// <c>Cache-Control: no-store</c> or <c>private</c> (a response that sets either belongs to one
/// visitor, like a form's anti-forgery token); a request with an <c>Authorization</c> header is never
/// answered from a copy. When a copy is older than <see cref="Lifetime"/>, the next visitors render
/// the page again (the count behind it is shared: <c>EntrantCount</c>). ASP.NET's output cache does
/// the same for any endpoint; this does it for one page, with far less work per request
/// (bench/README.md, "Landing page").
/// </para>
/// </summary>
public static class LandingCopies
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(5);

    sealed record Copy(byte[] Body, KeyValuePair<string, StringValues>[] Headers, long Until);

    public static IApplicationBuilder UseLandingCopies(
        this IApplicationBuilder app,
        Func<HttpContext, string> language
    )
    {
        var copies = new ConcurrentDictionary<string, Copy>();
        return app.Use(
            async (http, next) =>
            {
                var request = http.Request;
                if (
                    !HttpMethods.IsGet(request.Method)
                    || request.Path != "/"
                    || request.Headers.ContainsKey("Authorization")
                )
                {
                    await next(http);
                    return;
                }
                var locale = language(http);
                var response = http.Response;
                if (
                    copies.TryGetValue(locale, out var copy)
                    && Stopwatch.GetTimestamp() < copy.Until
                )
                {
                    foreach (var (name, value) in copy.Headers)
                        response.Headers[name] = value;
                    response.ContentLength = copy.Body.Length;
                    await response.Body.WriteAsync(copy.Body);
                    return;
                }

                // Rendered here, then sent whole, with its length.
                var body = response.Body;
                using var rendered = new MemoryStream();
                response.Body = rendered;
                try
                {
                    await next(http);
                }
                finally
                {
                    response.Body = body;
                }
                if (response.StatusCode == StatusCodes.Status200OK && ForEveryone(response))
                    copies[locale] = new Copy(
                        rendered.ToArray(),
                        [.. response.Headers],
                        Stopwatch.GetTimestamp()
                            + (long)(Lifetime.TotalSeconds * Stopwatch.Frequency)
                    );
                // An answer without a body (a time-out's 503) is left to the error pages.
                if (rendered.Length == 0)
                    return;
                response.ContentLength = rendered.Length;
                await body.WriteAsync(rendered.GetBuffer().AsMemory(0, (int)rendered.Length));
            }
        );
    }

    static bool ForEveryone(HttpResponse response) =>
        !response.Headers.ContainsKey("Set-Cookie")
        && !response.Headers.CacheControl.Any(value =>
            value is not null
            && (
                value.Contains("no-store", StringComparison.OrdinalIgnoreCase)
                || value.Contains("private", StringComparison.OrdinalIgnoreCase)
            )
        );
}
