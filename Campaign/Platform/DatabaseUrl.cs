using Npgsql;

namespace Campaign.Platform;

/// <summary>
/// Turns Heroku's <c>DATABASE_URL</c> (<c>postgres://user:password@host:port/database</c>) into
/// Npgsql settings: Npgsql reads key=value connection strings, not URLs.
/// https://devcenter.heroku.com/articles/connecting-heroku-postgres#connecting-in-other-languages
/// </summary>
public static class DatabaseUrl
{
    public const string Expected = "expected postgres://user:password@host:port/database";

    /// <summary>Parses the URL. Error messages never repeat the value: it holds a password.</summary>
    public static NpgsqlConnectionStringBuilder Parse(string url)
    {
        if (
            !Uri.TryCreate(url, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("postgres" or "postgresql")
        )
            throw new FormatException($"is not a postgres:// URL ({Expected})");

        var host = uri.Host.Trim('[', ']');
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (host.Length == 0)
            throw new FormatException($"has no host ({Expected})");
        if (database.Length == 0 || database.Contains('/'))
            throw new FormatException($"has no database name after the host ({Expected})");

        var (user, password) = UrlUserInfo.Split(uri.UserInfo);
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = uri.Port > 0 ? uri.Port : 5432,
            Database = database,
            Username = user,
            Password = password,
            // Heroku Postgres needs TLS; Heroku CI's in-dyno database and a local one have none.
            SslMode = IsLoopback(host) ? SslMode.Disable : SslMode.Require,
        };
        foreach (var (key, value) in UrlQuery.Parse(uri.Query))
        {
            builder.SslMode = key switch
            {
                "sslmode" => ParseSslMode(value),
                _ => throw new FormatException(
                    $"has an unsupported query parameter '{key}' (only sslmode is understood)"
                ),
            };
        }
        return builder;
    }

    static bool IsLoopback(string host) => host is "localhost" or "127.0.0.1" or "::1";

    static SslMode ParseSslMode(string value) =>
        Enum.TryParse<SslMode>(value.Replace("-", ""), ignoreCase: true, out var mode)
        && Enum.IsDefined(mode)
            ? mode
            : throw new FormatException(
                "has an unknown sslmode (use disable, allow, prefer, require, verify-ca or verify-full)"
            );
}

/// <summary>The <c>user:password</c> part of a service URL, percent-decoded.</summary>
static class UrlUserInfo
{
    public static (string? User, string? Password) Split(string userInfo)
    {
        if (userInfo.Length == 0)
            return (null, null);
        var colon = userInfo.IndexOf(':');
        var user = colon < 0 ? userInfo : userInfo[..colon];
        var password = colon < 0 ? null : userInfo[(colon + 1)..];
        return (NullIfEmpty(user), NullIfEmpty(password));
    }

    static string? NullIfEmpty(string? part) =>
        string.IsNullOrEmpty(part) ? null : Uri.UnescapeDataString(part);
}

/// <summary>The <c>?key=value&amp;...</c> part of a service URL, keys lower-cased.</summary>
static class UrlQuery
{
    public static IEnumerable<(string Key, string Value)> Parse(string query) =>
        query
            .TrimStart('?')
            .Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .Select(kv =>
                (
                    Uri.UnescapeDataString(kv[0]).ToLowerInvariant(),
                    kv.Length > 1 ? Uri.UnescapeDataString(kv[1]) : ""
                )
            );
}
