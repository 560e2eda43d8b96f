using System.Net;
using Campaign.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Campaign.Tests.Features;

/// <summary>
/// The per-client limit counts a client as the router sees it (X-Forwarded-For), an IPv6 client by
/// its /64, keeps no counter past its minute, and still limits while Redis fails.
/// </summary>
[Collection(nameof(CampaignApp))]
public sealed class PerClientLimitTests : IAsyncLifetime
{
    readonly CampaignApp app = CampaignApp.With(
        new() { ["RATE_LIMIT_PER_MINUTE"] = "2", ["TRUST_FORWARDED_HEADERS"] = "true" }
    );

    public Task InitializeAsync() => app.InitializeAsync();

    public Task DisposeAsync() => ((IAsyncLifetime)app).DisposeAsync();

    /// <summary>The start of the current minute of the app's clock: what a test sends falls in one minute.</summary>
    static DateTimeOffset MinuteStart(CampaignApp host)
    {
        var now = TestClock.RealNow;
        var start = new DateTimeOffset(
            now.Year,
            now.Month,
            now.Day,
            now.Hour,
            now.Minute,
            0,
            now.Offset
        );
        host.Clock.At(start);
        return start;
    }

    static async Task<HttpStatusCode> EnterFrom(HttpClient client, string address)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/entries")
        {
            Content = System.Net.Http.Json.JsonContent.Create(
                new
                {
                    email = $"limit-{Guid.NewGuid():N}@example.jp",
                    displayName = "制限 太郎",
                    consent = true,
                }
            ),
        };
        request.Headers.Add("X-Forwarded-For", address);
        return (await client.SendAsync(request)).StatusCode;
    }

    [Fact]
    public async Task An_IPv6_client_is_its_64_block_whatever_address_it_rotates_to()
    {
        MinuteStart(app);
        using var client = app.CreateClient();

        var sameBlock = new[]
        {
            await EnterFrom(client, "2001:db8:1:2::1"),
            await EnterFrom(client, "2001:db8:1:2:aaaa::2"),
            await EnterFrom(client, "2001:db8:1:2:ffff:ffff:ffff:3"),
        };
        var otherBlock = await EnterFrom(client, "2001:db8:1:3::1");

        Assert.Equal(
            [HttpStatusCode.Accepted, HttpStatusCode.Accepted, HttpStatusCode.TooManyRequests],
            sameBlock
        );
        Assert.Equal(HttpStatusCode.Accepted, otherBlock);
    }

    [Fact]
    public async Task A_counter_left_without_an_expiry_gets_one_with_the_next_request()
    {
        var start = MinuteStart(app);
        var http = new DefaultHttpContext();
        http.Connection.RemoteIpAddress = IPAddress.Parse("198.51.100.7");
        var key = PerClientLimit.KeyOf(PerClientLimit.Client(http), start);
        var redis = app.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        // What a process that died between counting and setting the expiry would leave.
        await redis.StringSetAsync(key, 1);
        Assert.Null(await redis.KeyTimeToLiveAsync(key));
        using var client = app.CreateClient();

        var answer = await EnterFrom(client, "198.51.100.7");

        Assert.Equal(HttpStatusCode.Accepted, answer);
        Assert.Equal(2, (long)await redis.StringGetAsync(key));
        Assert.InRange((await redis.KeyTimeToLiveAsync(key))!.Value.TotalSeconds, 1, 90);
    }

    [Fact]
    public async Task While_Redis_fails_each_process_still_limits_on_its_own()
    {
        await using var redisDown = CampaignApp.With(
            new()
            {
                ["DATABASE_SCHEMA"] = app.Schema,
                ["RATE_LIMIT_PER_MINUTE"] = "2",
                ["TRUST_FORWARDED_HEADERS"] = "true",
                ["REDIS_URL"] = "redis://127.0.0.1:1",
            }
        );
        MinuteStart(redisDown);
        using var client = redisDown.CreateClient();

        var answers = new[]
        {
            await EnterFrom(client, "192.0.2.44"),
            await EnterFrom(client, "192.0.2.44"),
            await EnterFrom(client, "192.0.2.44"),
        };

        Assert.Equal(
            [HttpStatusCode.Accepted, HttpStatusCode.Accepted, HttpStatusCode.TooManyRequests],
            answers
        );
    }
}
