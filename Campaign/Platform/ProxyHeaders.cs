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
    /// <summary>
    /// Outside Development every request is HTTPS: plain HTTP is redirected with 308 (which keeps
    /// the method and body), and HSTS tells browsers to come back over HTTPS only. The HTTPS port is
    /// 443: behind the router the app cannot discover it. Needs the forwarded headers first, or every
    /// request looks like HTTP and redirects forever.
    /// https://devcenter.heroku.com/articles/http-routing#heroku-headers
    /// </summary>
    public static IServiceCollection AddHttpsOnly(this IServiceCollection services) =>
        services
            .AddHttpsRedirection(options =>
            {
                options.RedirectStatusCode = StatusCodes.Status308PermanentRedirect;
                options.HttpsPort = 443;
            })
            .AddHsts(options => options.MaxAge = TimeSpan.FromDays(365));

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
