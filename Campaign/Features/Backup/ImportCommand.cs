using System.Text.Json;
using Campaign.Features.Entering;
using JasperFx.CommandLine;
using Marten;

namespace Campaign.Features.Backup;

public sealed class ImportInput : NetCoreInput
{
    [Description("Restore only this entrant (an id from the file); repeat for several")]
    public List<Guid> IdFlag { get; set; } = [];
}

/// <summary>
/// <c>./Campaign import &lt; entrants.jsonl</c>: loads an export into an empty database, or restores
/// chosen entrants (<c>--id</c>) into a live one. An entrant already present (by id, or by address
/// under another id) is left as it is; one who withdrew since the export stays withdrawn, and one
/// who stopped campaign mail since keeps it stopped; an address the entry form would refuse is
/// skipped, and once the campaign's retention period is over nothing is imported.
/// </summary>
[Description("Loads entrants from JSON Lines on stdin", Name = "import")]
public sealed class ImportCommand : JasperFxAsyncCommand<ImportInput>
{
    public override async Task<bool> Execute(ImportInput input)
    {
        using var host = input.BuildHost();
        var store = host.Services.GetRequiredService<IDocumentStore>();
        var settings = host.Services.GetRequiredService<Platform.Settings>();
        var now = host.Services.GetRequiredService<TimeProvider>().GetUtcNow();
        if (Privacy.PurgeExpiredData.CampaignPurgeAt(settings) is { } purgeAt && purgeAt <= now)
        {
            Console.Error.WriteLine(
                $"import: the campaign's data was due for deletion on {purgeAt:yyyy-MM-dd} (CAMPAIGN_ENDS_AT + RETENTION_DAYS); nothing is imported"
            );
            return false;
        }
        var (added, present, withdrawn, refused, mailOff, line) = (0, 0, 0, 0, 0, 0);
        using var reader = new StreamReader(Console.OpenStandardInput());
        while (await reader.ReadLineAsync() is { } text)
        {
            line++;
            if (text.Length == 0)
                continue;
            Entrant? entrant;
            try
            {
                entrant = JsonSerializer.Deserialize<Entrant>(text, ExportCommand.Json);
            }
            catch (JsonException e)
            {
                Console.Error.WriteLine(
                    $"import: line {line} is not an entrant ({e.Message}); nothing after it was read"
                );
                return false;
            }
            if (entrant is null || (input.IdFlag.Count > 0 && !input.IdFlag.Contains(entrant.Id)))
                continue;
            await using var session = store.LightweightSession();
            if (!EntryInput.IsDeliverable(entrant.Email))
                refused++; // the address rules of entering hold for a restore too
            else if (
                await session.LoadAsync<Withdrawal>(Withdrawal.IdOf(entrant.Email)) is not null
            )
                withdrawn++;
            else if (await IsPresent(session, entrant))
                present++;
            else
            {
                // Stopped after this entry was made, on the live site: it stays stopped.
                if (
                    entrant.CampaignMail
                    && await session.LoadAsync<Privacy.Unsubscription>(
                        Withdrawal.IdOf(entrant.Email)
                    )
                        is { } stopped
                    && stopped.Overrides(entrant)
                )
                {
                    entrant.CampaignMail = false;
                    mailOff++;
                }
                session.Insert(entrant);
                try
                {
                    await session.SaveChangesAsync();
                    added++;
                }
                catch (JasperFx.DocumentAlreadyExistsException)
                {
                    present++; // entered on the live site meanwhile
                }
            }
        }
        Console.WriteLine(
            $"added={added} already-present={present} withdrawn-skipped={withdrawn} invalid-address-skipped={refused} campaign-mail-kept-off={mailOff}"
        );
        return true;
    }

    /// <summary>By id, or by address under another id (the address is unique, in any case).</summary>
    static async Task<bool> IsPresent(IDocumentSession session, Entrant entrant)
    {
        var key = Mail.Mailbox.AddressKey(entrant.Email);
        return await session.LoadAsync<Entrant>(entrant.Id) is not null
            || await session.Query<Entrant>().AnyAsync(e => e.Email.ToLower() == key);
    }
}
