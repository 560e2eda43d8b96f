using Campaign.Platform;
using Npgsql;

namespace Campaign.Tests.Platform;

public sealed class DatabaseUrlTests
{
    [Theory]
    // A Heroku Postgres URL: a remote host, so TLS is required.
    [InlineData(
        "postgres://u1:hunter2@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d8abc",
        "ec2-1-2-3-4.compute-1.amazonaws.com",
        5432,
        "d8abc",
        "u1",
        "hunter2",
        SslMode.Require
    )]
    // Heroku CI's in-dyno database and a local one have no TLS.
    [InlineData(
        "postgres://postgres@localhost/campaign",
        "localhost",
        5432,
        "campaign",
        "postgres",
        null,
        SslMode.Disable
    )]
    [InlineData(
        "postgresql://postgres@127.0.0.1:15432/campaign",
        "127.0.0.1",
        15432,
        "campaign",
        "postgres",
        null,
        SslMode.Disable
    )]
    [InlineData("postgres://u:p@[::1]:5433/db", "::1", 5433, "db", "u", "p", SslMode.Disable)]
    // Percent-escaped user info.
    [InlineData(
        "postgres://u%40corp:p%3Aa%40ss%2F@db.example.com/app",
        "db.example.com",
        5432,
        "app",
        "u@corp",
        "p:a@ss/",
        SslMode.Require
    )]
    // An explicit sslmode wins, whatever the host.
    [InlineData(
        "postgres://u:p@db.example.com/app?sslmode=disable",
        "db.example.com",
        5432,
        "app",
        "u",
        "p",
        SslMode.Disable
    )]
    [InlineData(
        "postgres://u:p@localhost/app?sslmode=require",
        "localhost",
        5432,
        "app",
        "u",
        "p",
        SslMode.Require
    )]
    [InlineData(
        "postgres://u:p@db.example.com/app?sslmode=verify-full",
        "db.example.com",
        5432,
        "app",
        "u",
        "p",
        SslMode.VerifyFull
    )]
    public void Parses_a_database_url(
        string url,
        string host,
        int port,
        string database,
        string? user,
        string? password,
        SslMode sslMode
    )
    {
        var builder = DatabaseUrl.Parse(url);

        Assert.Equal(
            (host, port, database, user, password, sslMode),
            (
                builder.Host,
                builder.Port,
                builder.Database,
                builder.Username,
                builder.Password,
                builder.SslMode
            )
        );
    }

    [Theory]
    [InlineData("mysql://u:hunter2@db.example.com/app", "is not a postgres:// URL")]
    [InlineData("hunter2", "is not a postgres:// URL")]
    [InlineData("Host=db;Password=hunter2", "is not a postgres:// URL")]
    [InlineData("postgres://u:hunter2@db.example.com:5432/", "has no database name")]
    [InlineData(
        "postgres://u:hunter2@db.example.com/app?sslmode=sometimes",
        "has an unknown sslmode"
    )]
    [InlineData(
        "postgres://u:hunter2@db.example.com/app?pool=9",
        "unsupported query parameter 'pool'"
    )]
    public void Refuses_a_malformed_url_without_repeating_its_password(string url, string message)
    {
        var error = Assert.Throws<FormatException>(() => DatabaseUrl.Parse(url));

        Assert.Contains(message, error.Message);
        Assert.DoesNotContain("hunter2", error.Message);
    }
}
