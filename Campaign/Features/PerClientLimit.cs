using System.Security.Cryptography;
using System.Text;
using Campaign.Platform;
using StackExchange.Redis;

namespace Campaign.Features;

/// <summary>
/// A per-client limit on requests that can be abused (entering, signing in), counted in Redis so
/// that it is one limit whether one dyno or ten answer: a counter per client and minute. The client
/// is its IP address (the router's <c>X-Forwarded-For</c> on Heroku), hashed: Redis never holds it.
/// <c>RATE_LIMIT_PER_MINUTE=0</c> turns the limit off (load tests).
/// </summary>
public sealed partial class PerClientLimit(
    IConnectionMultiplexer redis,
    Settings settings,
    TimeProvider clock,
    ILogger<PerClientLimit> logger
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
        var key = $"limit:{now:yyyyMMddHHmm}:{Client(http)}";
        long count;
        try
        {
            var db = redis.GetDatabase();
            count = await db.StringIncrementAsync(key);
            if (count == 1)
                await db.KeyExpireAsync(key, TimeSpan.FromSeconds(90));
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            // Without Redis the limit cannot be counted; the request goes on rather than failing.
            LogUncounted(logger, e.GetType().Name);
            return await next(context);
        }
        if (count <= limit)
            return await next(context);

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

    static string Client(HttpContext http)
    {
        var address = http.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(address)))[..16];
    }

    [LoggerMessage(
        Level = LogLevel.Warning,
        Message = "rate limit not counted: Redis failed ({Error})"
    )]
    static partial void LogUncounted(ILogger logger, string error);
}
