using Campaign.Platform;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Campaign.Tests.Platform;

/// <summary>
/// The counters of a batch's requests are taken in one round trip to Redis, in the requests' order,
/// exactly as if each had been taken alone: a request refused by one of its counters takes none.
/// </summary>
[Collection(nameof(CampaignApp))]
public sealed class CountersTests(CampaignApp app)
{
    [Fact]
    public async Task Several_requests_at_once_are_taken_in_order_and_a_refused_one_takes_none_of_its_counters()
    {
        var counters = app.Services.GetRequiredService<Counters>();
        var run = Guid.NewGuid().ToString("N")[..8];
        var (all, domain, other) = ($"t:{run}:all", $"t:{run}:domain", $"t:{run}:other");
        IReadOnlyList<(string, long)> ofDomain = [(all, 4), (domain, 2)];
        IReadOnlyList<(string, long)> ofOther = [(all, 4), (other, 9)];

        var taken = await counters.TakeEach(
            [ofDomain, ofOther, ofDomain, ofDomain, ofOther, ofOther],
            TimeSpan.FromMinutes(1)
        );

        // The domain's two, then its third refused (without counting in all); all's four, then refused.
        Assert.Equal([true, true, true, false, true, false], taken);
        var redis = app.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        Assert.Equal(4, (long)await redis.StringGetAsync(all));
        Assert.Equal(2, (long)await redis.StringGetAsync(domain));
        Assert.Equal(2, (long)await redis.StringGetAsync(other));
        Assert.InRange((await redis.KeyTimeToLiveAsync(all))!.Value.TotalSeconds, 1, 60);
        // One at a time, the same answer as the batch gave for the next request.
        Assert.False(await counters.TakeWithin(ofOther, TimeSpan.FromMinutes(1)));
    }
}
