using System.Collections.Concurrent;
using System.Diagnostics;
using Campaign.Features;
using Microsoft.Extensions.Primitives;

namespace Campaign.Platform;

/// <summary>
/// The landing page is what a crowd hits first. Each dyno keeps its rendered copy per language for
/// a few seconds and answers from it before the rest of the pipeline runs (nothing after it is
/// needed for a page that is the same for everyone): a spike costs PostgreSQL one count per
/// language per dyno every few seconds, and each visitor one write of the copy, with its length.
/// A per-dyno copy needs no Redis round trip and no Redis memory (Heroku Redis mini has 25 MB for
/// sessions); the price is that two dynos may show counts a few seconds apart.
/// <para>
/// A copy is made of what the page's endpoint answered: status 200 without a cookie (a response
/// that sets one belongs to one visitor). When a copy is older than <see cref="Lifetime"/>, the next
/// visitors render the page again (the count behind it is shared: <c>EntrantCount</c>). ASP.NET's
/// output cache does the same for any endpoint; this does it for one page, at a fifth of its cost
/// per request (bench/README.md).
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
                if (!HttpMethods.IsGet(http.Request.Method) || http.Request.Path != "/")
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
                if (
                    response.StatusCode == StatusCodes.Status200OK
                    && !response.Headers.ContainsKey("Set-Cookie")
                )
                    copies[locale] = new Copy(
                        rendered.ToArray(),
                        [.. response.Headers],
                        Stopwatch.GetTimestamp()
                            + (long)(Lifetime.TotalSeconds * Stopwatch.Frequency)
                    );
                response.ContentLength = rendered.Length;
                await body.WriteAsync(rendered.GetBuffer().AsMemory(0, (int)rendered.Length));
            }
        );
    }
}
