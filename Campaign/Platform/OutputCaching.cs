using Microsoft.AspNetCore.OutputCaching;

namespace Campaign.Platform;

/// <summary>
/// The landing page is what a crowd hits first. Each dyno keeps a rendered copy per language for a
/// few seconds, so a spike costs PostgreSQL one count per language per dyno every few seconds. A
/// per-dyno cache needs no Redis round trip and no Redis memory (Heroku Redis mini has 25 MB for
/// sessions); the price is that two dynos may show counts a few seconds apart.
/// https://learn.microsoft.com/aspnet/core/performance/caching/output
/// </summary>
public static class OutputCaching
{
    public const string Landing = "landing";
    public static readonly TimeSpan LandingLifetime = TimeSpan.FromSeconds(5);

    public static IServiceCollection AddPageCache(
        this IServiceCollection services,
        Func<HttpContext, string> language
    ) =>
        services.AddOutputCache(options =>
            options.AddPolicy(
                Landing,
                policy =>
                    policy
                        .Expire(LandingLifetime)
                        .VaryByValue(context => new("lang", language(context)))
            )
        );
}
