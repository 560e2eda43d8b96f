using System.Buffers.Text;
using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;
using StackExchange.Redis;

namespace Campaign.Platform;

/// <summary>
/// Server-side sessions in Redis: the cookie carries only a random key, the ticket lives in Redis
/// with a sliding expiry. Every dyno sees the same sessions, a deploy or restart signs nobody out,
/// and deleting the key ends the session everywhere at once. Each user's session keys are also
/// kept in a set, so "sign out everywhere" (on withdrawal) can find them.
/// </summary>
public sealed class RedisSessionStore(IConnectionMultiplexer redis, TimeProvider clock)
    : ITicketStore
{
    public static readonly TimeSpan IdleLifetime = TimeSpan.FromDays(14);
    const string Prefix = "session:";

    IDatabase Db => redis.GetDatabase();

    public async Task<string> StoreAsync(AuthenticationTicket ticket)
    {
        var key = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        await RenewAsync(key, ticket);
        return key;
    }

    public async Task RenewAsync(string key, AuthenticationTicket ticket)
    {
        var ttl = Ttl(ticket);
        var batch = Db.CreateBatch();
        var saved = batch.StringSetAsync(
            Prefix + key,
            TicketSerializer.Default.Serialize(ticket),
            ttl
        );
        var indexed = Subject(ticket.Principal) is { } subject
            ? Index(batch, subject, key, ttl)
            : Task.CompletedTask;
        batch.Execute();
        await Task.WhenAll(saved, indexed);
    }

    public async Task<AuthenticationTicket?> RetrieveAsync(string key)
    {
        var bytes = (byte[]?)await Db.StringGetAsync(Prefix + key);
        return bytes is null ? null : TicketSerializer.Default.Deserialize(bytes);
    }

    public Task RemoveAsync(string key) => Db.KeyDeleteAsync(Prefix + key);

    /// <summary>Ends every session of one user, on every device and dyno.</summary>
    public async Task EndAll(Guid subject)
    {
        var index = IndexKey(subject.ToString());
        var keys = await Db.SetMembersAsync(index);
        await Db.KeyDeleteAsync([.. keys.Select(k => (RedisKey)(Prefix + k)), index]);
    }

    /// <summary>How many devices the user is signed in on now (sessions that have not expired).</summary>
    public async Task<int> CountOf(Guid subject)
    {
        var keys = await Db.SetMembersAsync(IndexKey(subject.ToString()));
        return keys.Length == 0
            ? 0
            : (int)await Db.KeyExistsAsync([.. keys.Select(k => (RedisKey)(Prefix + k))]);
    }

    static Task Index(IBatch batch, string subject, string key, TimeSpan ttl)
    {
        var index = IndexKey(subject);
        return Task.WhenAll(
            batch.SetAddAsync(index, key),
            // The index lives as long as the longest session in it.
            batch.KeyExpireAsync(index, ttl, ExpireWhen.GreaterThanCurrentExpiry),
            batch.KeyExpireAsync(index, ttl, ExpireWhen.HasNoExpiry)
        );
    }

    static string IndexKey(string subject) => $"sessions-of:{subject}";

    TimeSpan Ttl(AuthenticationTicket ticket) =>
        ticket.Properties.ExpiresUtc is { } expires
            ? TimeSpan.FromSeconds(Math.Max(60, (expires - clock.GetUtcNow()).TotalSeconds))
            : IdleLifetime;

    static string? Subject(ClaimsPrincipal principal) =>
        principal.FindFirst(ClaimTypes.NameIdentifier)?.Value;
}

public static class Sessions
{
    public const string CookieName = "campaign_session";

    /// <summary>
    /// One data-protection key ring for every process (web dynos and the clock), kept in Redis: what
    /// one signs (a cookie, a form's anti-forgery token, an unsubscribe link), any other can read.
    /// https://learn.microsoft.com/aspnet/core/security/data-protection/implementation/key-storage-providers#redis
    /// </summary>
    public static IServiceCollection AddSharedDataProtection(this IServiceCollection services)
    {
        services.AddDataProtection().SetApplicationName("Campaign");
        services
            .AddOptions<Microsoft.AspNetCore.DataProtection.KeyManagement.KeyManagementOptions>()
            .Configure<IConnectionMultiplexer>(
                (options, redis) =>
                    options.XmlRepository =
                        new Microsoft.AspNetCore.DataProtection.StackExchangeRedis.RedisXmlRepository(
                            () => redis.GetDatabase(),
                            "data-protection-keys"
                        )
            );
        return services;
    }

    public static IServiceCollection AddRedisSessions(
        this IServiceCollection services,
        IHostEnvironment environment
    )
    {
        services
            .AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(options =>
            {
                options.Cookie.Name = CookieName;
                options.Cookie.HttpOnly = true;
                options.Cookie.SameSite = SameSiteMode.Lax;
                // Behind Heroku's router the request is HTTPS once forwarded headers are applied.
                options.Cookie.SecurePolicy = environment.IsDevelopment()
                    ? CookieSecurePolicy.SameAsRequest
                    : CookieSecurePolicy.Always;
                options.ExpireTimeSpan = RedisSessionStore.IdleLifetime;
                options.SlidingExpiration = true;
                // Pages and the API decide themselves what a signed-out visitor sees.
                options.Events.OnRedirectToLogin = context =>
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return Task.CompletedTask;
                };
            });
        services
            .AddOptions<CookieAuthenticationOptions>(
                CookieAuthenticationDefaults.AuthenticationScheme
            )
            .Configure<RedisSessionStore>((options, store) => options.SessionStore = store);
        return services;
    }
}
