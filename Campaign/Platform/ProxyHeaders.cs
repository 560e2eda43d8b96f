using Microsoft.AspNetCore.HttpOverrides;

namespace Campaign.Platform;

/// <summary>
/// Heroku's router ends TLS and forwards the request with <c>X-Forwarded-For</c> and
/// <c>X-Forwarded-Proto</c>. They are trusted only behind it (or a local proxy that says so), and
/// only for one hop, so a client cannot pretend to be another address by sending the header itself.
/// https://devcenter.heroku.com/articles/http-routing#heroku-headers
/// </summary>
public static class ProxyHeaders
{
    public static IServiceCollection AddProxyHeaders(this IServiceCollection services) =>
        services.Configure<ForwardedHeadersOptions>(options =>
        {
            options.ForwardedHeaders =
                ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            options.ForwardLimit = 1;
            // The router's addresses are not known in advance.
            options.KnownIPNetworks.Clear();
            options.KnownProxies.Clear();
        });
}
