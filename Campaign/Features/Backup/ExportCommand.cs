using System.Text.Json;
using Campaign.Features.Entering;
using JasperFx.CommandLine;
using Marten;

namespace Campaign.Features.Backup;

/// <summary>
/// <c>./Campaign export</c>: every entrant, and what belongs to them, as JSON Lines on stdout, in id
/// order: a portable, per-record backup beside <c>heroku pg:backups</c>. The file is personal data.
/// <c>heroku run --no-tty "cd Campaign/bin/publish &amp;&amp; ./Campaign export" &gt; entrants.jsonl</c>
/// </summary>
[Description("Writes every entrant as JSON Lines to stdout", Name = "export")]
public sealed class ExportCommand : JasperFxAsyncCommand<NetCoreInput>
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public override async Task<bool> Execute(NetCoreInput input)
    {
        using var host = input.BuildHost();
        await using var session = host.Services.GetRequiredService<IDocumentStore>().QuerySession();
        await using var stdout = Console.OpenStandardOutput();
        var count = 0;
        var after = Guid.Empty;
        while (true)
        {
            var page = await session.QueryAsync<Entrant>(
                "where d.id > ? order by d.id limit 1000",
                after
            );
            foreach (var entrant in page)
            {
                await JsonSerializer.SerializeAsync(stdout, entrant, Json);
                stdout.WriteByte((byte)'\n');
            }
            count += page.Count;
            if (page.Count == 0)
                break;
            after = page[^1].Id;
        }
        Console.Error.WriteLine($"export: {count} entrants");
        return true;
    }
}
