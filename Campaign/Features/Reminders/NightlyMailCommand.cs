using Campaign.Platform;
using JasperFx.CommandLine;

namespace Campaign.Features.Reminders;

public sealed class NightlyMailInput : NetCoreInput
{
    [Description("The campaign-local night, YYYY-MM-DD (default: tonight)")]
    public string DateFlag { get; set; } = "";

    [Description("Count who would get a reminder; write and send nothing")]
    public bool DryRunFlag { get; set; }
}

/// <summary>
/// <c>./Campaign nightly-mail [--date YYYY-MM-DD] [--dry-run]</c> (e.g. <c>heroku run</c>): runs or
/// resumes a night's batch now, whatever the time. Progress and logs go to stderr; the counts, to
/// stdout.
/// </summary>
[Description("Runs (or resumes) a night's reminder batch now", Name = "nightly-mail")]
public sealed class NightlyMailCommand : JasperFxAsyncCommand<NightlyMailInput>
{
    public override async Task<bool> Execute(NightlyMailInput input)
    {
        using var host = input.BuildHost();
        var services = host.Services;
        var settings = services.GetRequiredService<Settings>();
        DateOnly night;
        if (input.DateFlag.Length == 0)
            night = NightlyReminder
                .Tonight(services.GetRequiredService<TimeProvider>().GetUtcNow(), settings)
                .Night;
        else if (!DateOnly.TryParseExact(input.DateFlag, "yyyy-MM-dd", out night))
        {
            Console.Error.WriteLine(
                $"--date must be a date like 2026-12-01, not '{input.DateFlag}'"
            );
            return false;
        }

        var outcome = await services
            .GetRequiredService<RunNightlyMail>()
            .Run(
                night,
                input.DryRunFlag,
                done =>
                    Console.Error.WriteLine(
                        $"nightly-mail {night:yyyy-MM-dd}: {done} entrants so far"
                    ),
                default
            );
        Console.WriteLine(
            !outcome.Ran ? $"night={night:yyyy-MM-dd} skipped: another run holds the lock"
            : input.DryRunFlag ? $"night={night:yyyy-MM-dd} dry-run qualifying={outcome.Qualifying}"
            : $"night={night:yyyy-MM-dd} qualifying={outcome.Qualifying} enqueued={outcome.Enqueued} summary={(outcome.SummaryWritten ? "yes" : "no")}"
        );
        return outcome.Ran;
    }
}
