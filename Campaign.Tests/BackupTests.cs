using Campaign.Features.Backup;
using Campaign.Features.Entering;
using Campaign.Features.Photos;
using Newtonsoft.Json.Linq;
using Npgsql;
using Snapshooter.Xunit;

namespace Campaign.Tests;

/// <summary>`export` and `import` of the published app, the portable per-record backup.</summary>
public sealed class BackupTests : IAsyncLifetime
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    readonly string source = $"bk_{Guid.NewGuid():N}"[..15];
    readonly string target = $"bk_{Guid.NewGuid():N}"[..15];

    static Dictionary<string, string?> Environment(string schema) =>
        TestServices.Heroku("run.1", schema);

    static async Task<string> Run(
        string schema,
        string command,
        string? input = null,
        params string[] args
    )
    {
        using var process = new PublishedApp(Environment(schema), [command, .. args]);
        if (input is not null)
            await process.Feed(input);
        Assert.True(await process.WaitForExit(Patience) == 0, process.Output);
        return process.StandardOutput;
    }

    static Marten.DocumentStore Store(string schema) => TestServices.Store(schema);

    // Fixture data, pinned by the export's snapshot; compared only with each other, never with a clock.
    static DateTimeOffset Entered(int n) => DateTimeOffset.Parse($"2026-12-0{n}T10:00:00Z");

    static Entrant Person(int n, string email, string name, bool photo)
    {
        var at = Entered(n);
        var entrant = Entrant.Enter(
            new EntryInput(email, name, n % 2 == 0 ? "en" : "ja", n != 2),
            at
        );
        entrant.Id = Guid.Parse($"00000000-0000-0000-0000-00000000000{n}");
        entrant.Confirm(at.AddMinutes(5));
        if (photo)
            entrant.Photo = new Photo(
                $"entrants/{entrant.Id:N}/photo-1.png",
                "image/png",
                70,
                at.AddMinutes(9)
            );
        return entrant;
    }

    [Fact]
    public async Task Export_import_export_gives_back_the_same_file_and_a_withdrawn_entrant_stays_withdrawn()
    {
        await Run(source, "db-apply");
        await Run(target, "db-apply");
        await using (var store = Store(source))
            await store.BulkInsertAsync([
                Person(1, "hanako@example.jp", "山田 花子", photo: true),
                Person(2, "ken@example.com", "Ken 👍🏽", photo: false),
                Person(3, "taro@example.jp", "佐藤 太郎", photo: false),
            ]);

        var export = await Run(source, "export");
        var imported = await Run(target, "import", export);
        var again = await Run(target, "export");
        await using (var store = Store(target))
        await using (var session = store.LightweightSession())
        {
            // Taro withdraws on the live site after the export was taken.
            session.Store(
                new Withdrawal
                {
                    Id = Withdrawal.IdOf("taro@example.jp"),
                    WithdrawnAt = TestClock.RealNow,
                }
            );
            session.Delete<Entrant>(Guid.Parse("00000000-0000-0000-0000-000000000003"));
            // Hanako stops campaign mail after the export; then her row is lost. (The import
            // compares the time she stopped with the time she entered.)
            session.Store(
                Campaign.Features.Privacy.Unsubscription.Of(
                    "hanako@example.jp",
                    Entered(1).AddDays(4)
                )
            );
            session.Delete<Entrant>(Guid.Parse("00000000-0000-0000-0000-000000000001"));
            // Ken's address entered again, under another id.
            session.Delete<Entrant>(Guid.Parse("00000000-0000-0000-0000-000000000002"));
            session.Insert(Person(4, "Ken@example.com", "Ken again", photo: false));
            await session.SaveChangesAsync();
        }
        var restored = await Run(target, "import", export);

        Snapshot.Match(
            new JArray(
                export.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(JObject.Parse)
            )
        );
        Assert.Equal(
            "added=3 already-present=0 withdrawn-skipped=0 invalid-address-skipped=0 campaign-mail-kept-off=0\n",
            imported
        );
        Assert.Equal(export, again);
        Assert.Equal(
            "added=1 already-present=1 withdrawn-skipped=1 invalid-address-skipped=0 campaign-mail-kept-off=1\n",
            restored
        );
        await using (var store = Store(target))
        await using (var session = store.QuerySession())
        {
            var hanako = await session.LoadAsync<Entrant>(
                Guid.Parse("00000000-0000-0000-0000-000000000001")
            );
            Assert.False(hanako!.CampaignMail);
            Assert.Equal(
                ["Ken again"],
                (
                    await Marten.QueryableExtensions.ToListAsync(
                        session.Query<Entrant>().Where(e => e.Email.ToLower() == "ken@example.com")
                    )
                ).Select(e => e.DisplayName)
            );
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await using var db = NpgsqlDataSource.Create(
            Campaign.Platform.DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
        );
        foreach (var schema in new[] { source, target })
            await db.CreateCommand($"drop schema if exists {schema} cascade")
                .ExecuteNonQueryAsync();
    }
}
