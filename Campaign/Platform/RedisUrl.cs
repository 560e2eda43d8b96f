using StackExchange.Redis;

namespace Campaign.Platform;

/// <summary>
/// Turns Heroku's <c>REDIS_URL</c> (<c>redis://</c> or <c>rediss://[user]:password@host:port</c>)
/// into StackExchange.Redis options. <c>ConfigurationOptions.Parse</c> does not understand URLs: given
/// one it silently builds a broken endpoint, so the URL is taken apart here.
/// https://devcenter.heroku.com/articles/connecting-heroku-redis
/// </summary>
public static class RedisUrl
{
    public const string Expected = "expected redis://[user]:password@host:port or rediss://...";

    /// <summary>Parses the URL. Error messages never repeat the value: it holds a password.</summary>
    public static ConfigurationOptions Parse(string url)
    {
        if (
            !Uri.TryCreate(url, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("redis" or "rediss")
        )
            throw new FormatException($"is not a redis:// or rediss:// URL ({Expected})");
        var host = uri.Host.Trim('[', ']');
        if (host.Length == 0)
            throw new FormatException($"has no host ({Expected})");

        var (user, password) = UrlUserInfo.Split(uri.UserInfo);
        var options = new ConfigurationOptions
        {
            User = user,
            Password = password,
            Ssl = uri.Scheme == "rediss",
            // Keep retrying in the background instead of failing the boot: a dyno must start
            // (and answer /healthz) even while Redis is briefly away.
            AbortOnConnectFail = false,
            // Exception messages would otherwise name the keys of the command (a session's key).
            IncludeDetailInExceptions = false,
            // Fail fast: a stuck Redis costs a request half a second, not the router's 30 s.
            ConnectTimeout = 1000,
            AsyncTimeout = 500,
            SyncTimeout = 500,
        };
        options.EndPoints.Add(host, uri.Port > 0 ? uri.Port : 6379);

        var path = uri.AbsolutePath.Trim('/');
        if (path.Length > 0)
            options.DefaultDatabase =
                int.TryParse(path, out var db) && db >= 0
                    ? db
                    : throw new FormatException(
                        "has a path that is not a database number (/0, /1, ...)"
                    );

        if (options.Ssl)
            // Heroku Redis presents a self-signed certificate: the connection is encrypted, but the
            // certificate cannot be verified against a public authority.
            // https://devcenter.heroku.com/articles/connecting-heroku-redis#connecting-in-other-languages
            options.CertificateValidation += (_, _, _, _) => true;
        return options;
    }
}
