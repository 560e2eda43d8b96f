using Campaign.Platform;
using JasperFx.CommandLine;
using Marten;

namespace Campaign.Features.Entering;

public sealed class SeedInput : NetCoreInput
{
    [Description("How many synthetic entrants to add")]
    public int CountFlag { get; set; } = 100;
}

/// <summary>
/// <c>./Campaign seed-entrants --count 100000</c>: adds synthetic, confirmed entrants (addresses at
/// example.test, which never receive mail) for review apps and benchmarks. Refused unless
/// ALLOW_SEED=true, so it cannot run against production by mistake.
/// </summary>
[Description("Adds synthetic entrants (only with ALLOW_SEED=true)", Name = "seed-entrants")]
public sealed class SeedEntrantsCommand : JasperFxAsyncCommand<SeedInput>
{
    const int Page = 5000;

    public override async Task<bool> Execute(SeedInput input)
    {
        using var host = input.BuildHost();
        if (!host.Services.GetRequiredService<Settings>().AllowSeed)
        {
            Console.Error.WriteLine(
                "seed-entrants is refused: set ALLOW_SEED=true (never on production)."
            );
            return false;
        }
        var store = host.Services.GetRequiredService<IDocumentStore>();
        var now = DateTimeOffset.UtcNow;
        var run = Guid.NewGuid().ToString("N")[..8];
        for (var done = 0; done < input.CountFlag; done += Page)
        {
            var entrants = Enumerable
                .Range(done, Math.Min(Page, input.CountFlag - done))
                .Select(i =>
                {
                    var entrant = Entrant.Enter(
                        new EntryInput(
                            $"seed-{run}-{i}@example.test",
                            $"テスト {i}",
                            i % 3 == 0 ? "en" : "ja",
                            CampaignMail: true
                        ),
                        now
                    );
                    entrant.Confirm(now);
                    return entrant;
                })
                .ToList();
            await store.BulkInsertAsync(entrants);
            Console.Error.WriteLine($"seed-entrants: {done + entrants.Count} of {input.CountFlag}");
        }
        Console.WriteLine($"seeded={input.CountFlag}");
        return true;
    }
}
