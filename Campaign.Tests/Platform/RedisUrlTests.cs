using System.Net;
using Campaign.Platform;
using StackExchange.Redis;

namespace Campaign.Tests.Platform;

public sealed class RedisUrlTests
{
    [Theory]
    [InlineData("redis://127.0.0.1:16379", "127.0.0.1", 16379, false, null, null, null)]
    [InlineData("redis://localhost", "localhost", 6379, false, null, null, null)]
    // Heroku Redis: TLS on rediss://, a password and no user.
    [InlineData(
        "rediss://:hunter2@ec2-1-2-3-4.compute-1.amazonaws.com:12345",
        "ec2-1-2-3-4.compute-1.amazonaws.com",
        12345,
        true,
        null,
        "hunter2",
        null
    )]
    [InlineData(
        "redis://default:p%40ss@cache.example.com:6380/2",
        "cache.example.com",
        6380,
        false,
        "default",
        "p@ss",
        2
    )]
    public void Parses_a_redis_url(
        string url,
        string host,
        int port,
        bool ssl,
        string? user,
        string? password,
        int? database
    )
    {
        var options = RedisUrl.Parse(url);

        var endpoint = Assert.Single(options.EndPoints) switch
        {
            DnsEndPoint dns => (dns.Host, dns.Port),
            IPEndPoint ip => (ip.Address.ToString(), ip.Port),
            var other => throw new InvalidOperationException($"unexpected endpoint {other}"),
        };
        Assert.Equal(
            (host, port, ssl, user, password, database, false),
            (
                endpoint.Item1,
                endpoint.Item2,
                options.Ssl,
                options.User,
                options.Password,
                options.DefaultDatabase,
                options.AbortOnConnectFail
            )
        );
    }

    [Fact]
    public async Task Connects_over_TLS_to_a_server_with_a_self_signed_certificate_as_Heroku_Redis_has()
    {
        // A TLS end with a self-signed certificate in front of the tests' Redis, which speaks
        // plain TCP (Heroku CI's in-dyno Redis has no TLS).
        await using var tls = FaultProxy.WithTls(TestServices.RedisUrl, "rediss");
        Assert.StartsWith("rediss://", tls.Url);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisUrl.Parse(tls.Url));

        // The first TLS connection of a process loads the system's certificate store, which can
        // take longer than the 1 s connect time-out: the multiplexer then connects again by itself,
        // as it would on a dyno.
        await Eventually.Until(() => Task.FromResult(redis.IsConnected));
        Assert.True((await redis.GetDatabase().PingAsync()) < TimeSpan.FromSeconds(1));
        // The commands went through the TLS end, not around it.
        Assert.True(tls.Connections > 0);
    }

    [Theory]
    [InlineData("http://:hunter2@cache.example.com:6379", "is not a redis:// or rediss:// URL")]
    [InlineData("cache.example.com:6379,password=hunter2", "is not a redis:// or rediss:// URL")]
    [InlineData("redis://:hunter2@cache.example.com:6379/zero", "is not a database number")]
    public void Refuses_a_malformed_url_without_repeating_its_password(string url, string message)
    {
        var error = Assert.Throws<FormatException>(() => RedisUrl.Parse(url));

        Assert.Contains(message, error.Message);
        Assert.DoesNotContain("hunter2", error.Message);
    }
}
