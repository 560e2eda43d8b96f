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
    static readonly object ReplacedKey = new();

    IDatabase Db => redis.GetDatabase();

    public async Task<string> StoreAsync(AuthenticationTicket ticket)
    {
        var key = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        await Write(key, ticket);
        return key;
    }

    /// <summary>
    /// A sign-in: a new key, always. The session the browser came with (a key someone may have
    /// planted in it) is deleted, so that it resolves to nobody from now on.
    /// </summary>
    public async Task<string> StoreAsync(
        AuthenticationTicket ticket,
        HttpContext http,
        CancellationToken cancellationToken
    )
    {
        var key = await StoreAsync(ticket);
        if (http.Items[ReplacedKey] is string replaced)
            await RemoveAsync(replaced);
        return key;
    }

    /// <summary>
    /// The cookie handler renews the key it read (sliding expiry), and would also write a new
    /// sign-in under it: a key never passes from one entrant to another. Sign-in routes never read
    /// the request's key (<see cref="RetrieveAsync(string, HttpContext, CancellationToken)"/>), so
    /// this refusal is the second line, not the first.
    /// </summary>
    public async Task RenewAsync(string key, AuthenticationTicket ticket)
    {
        var held = await RetrieveAsync(key);
        if (held is not null && Subject(held.Principal) != Subject(ticket.Principal))
        {
            await RemoveAsync(key);
            throw new InvalidOperationException(
                "A session key was about to pass to another entrant: the key is deleted."
            );
        }
        await Write(key, ticket);
    }

    async Task Write(string key, AuthenticationTicket ticket)
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

    /// <summary>
    /// On a route that signs in (<see cref="Sessions.StartsNewSession"/>) the request's session
    /// counts for nothing: the cookie handler then stores the new sign-in under a new key instead of
    /// renewing the one it read (session fixation), and <see cref="StoreAsync(AuthenticationTicket,
    /// HttpContext, CancellationToken)"/> deletes the one it read.
    /// </summary>
    public Task<AuthenticationTicket?> RetrieveAsync(
        string key,
        HttpContext http,
        CancellationToken cancellationToken
    )
    {
        if (http.GetEndpoint()?.Metadata.GetMetadata<Sessions.NewSession>() is null)
            return RetrieveAsync(key);
        http.Items[ReplacedKey] = key;
        return Task.FromResult<AuthenticationTicket?>(null);
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
    /// The name wherever cookies are Secure: the <c>__Host-</c> prefix makes browsers refuse the
    /// cookie unless it came over HTTPS from this very host, for path /, so that a sibling
    /// subdomain or a plain-HTTP answer cannot plant one.
    /// https://developer.mozilla.org/docs/Web/HTTP/Headers/Set-Cookie#cookie_prefixes
    /// </summary>
    public const string SecureCookieName = "__Host-" + CookieName;

    /// <summary>Marks a route that signs someone in (<see cref="StartsNewSession"/>).</summary>
    public sealed class NewSession;

    /// <summary>
    /// The route signs someone in: the session the request came with is not renewed but replaced
    /// by a new one, under a new key (<see cref="RedisSessionStore"/>).
    /// </summary>
    public static TBuilder StartsNewSession<TBuilder>(this TBuilder route)
        where TBuilder : IEndpointConventionBuilder => route.WithMetadata(new NewSession());

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
                options.Cookie.Name = environment.IsDevelopment() ? CookieName : SecureCookieName;
                options.Cookie.Path = "/";
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
