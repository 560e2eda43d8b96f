using System.Security.Cryptography;
using Campaign.Platform;

namespace Campaign.Features;

/// <summary>
/// A per-client limit on requests that can be abused (entering, signing in), counted in Redis so
/// that it is one limit whether one dyno or ten answer: a counter per client and minute. The client
/// is its IP address (the router's <c>X-Forwarded-For</c> on Heroku), hashed: Redis never holds it;
/// an IPv6 client is its /64, the block one subscriber is given. While Redis fails, each process
/// counts on its own (<see cref="Counters"/>): the limit is then per dyno, never gone.
/// <c>RATE_LIMIT_PER_MINUTE=0</c> turns the limit off (load tests).
/// </summary>
public sealed class PerClientLimit(
    Counters counters,
    Settings settings,
    TimeProvider clock,
    Metrics metrics
) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(
        EndpointFilterInvocationContext context,
        EndpointFilterDelegate next
    )
    {
        var limit = settings.RateLimitPerMinute;
        if (limit == 0)
            return await next(context);

        var http = context.HttpContext;
        var now = clock.GetUtcNow();
        var key = KeyOf(Client(http), now);
        var count = await counters.Increment(key, TimeSpan.FromSeconds(90));
        if (count <= limit)
            return await next(context);

        metrics.Count("campaign.rate_limited");
        var retryAfter = 60 - now.Second;
        http.Response.Headers.RetryAfter = retryAfter.ToString();
        if (!http.Request.Path.StartsWithSegments("/api"))
            return Pages.Page.Show<Pages.ErrorPage>(
                new { Locale = Language.Of(http), Status = StatusCodes.Status429TooManyRequests },
                StatusCodes.Status429TooManyRequests
            );
        return Problems.Problem(
            StatusCodes.Status429TooManyRequests,
            "too-many-requests",
            "Too many requests",
            Language.Say(
                Language.Of(http),
                $"リクエストが多すぎます。{retryAfter}秒後にもう一度お試しください。",
                $"Too many requests. Try again in {retryAfter} seconds."
            )
        );
    }

    public static string KeyOf(string client, DateTimeOffset now) =>
        $"limit:{now:yyyyMMddHHmm}:{client}";

    public static string Client(HttpContext http)
    {
        var address = http.Connection.RemoteIpAddress;
        if (address is { IsIPv4MappedToIPv6: true })
            address = address.MapToIPv4();
        var bytes = address?.GetAddressBytes() ?? [];
        // IPv6: the first 64 bits, which one subscriber holds whole (each of its devices, every
        // address it rotates through, counts as the same client).
        if (bytes.Length == 16)
            bytes = bytes[..8];
        return Convert.ToHexStringLower(SHA256.HashData(bytes))[..16];
    }
}
