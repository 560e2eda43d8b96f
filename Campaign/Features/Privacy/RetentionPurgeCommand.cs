using JasperFx.CommandLine;

namespace Campaign.Features.Privacy;

public sealed class RetentionPurgeInput : NetCoreInput
{
    [Description("Count what would be deleted; delete nothing")]
    public bool DryRunFlag { get; set; }
}

/// <summary>
/// <c>./Campaign retention-purge [--dry-run]</c> (e.g. <c>heroku run</c>): applies the retention
/// rules now, as the clock does every hour. The counts go to stdout, logs to stderr.
/// </summary>
[Description("Deletes the personal data whose retention period is over", Name = "retention-purge")]
public sealed class RetentionPurgeCommand : JasperFxAsyncCommand<RetentionPurgeInput>
{
    public override async Task<bool> Execute(RetentionPurgeInput input)
    {
        using var host = input.BuildHost();
        var summary = await host
            .Services.GetRequiredService<PurgeExpiredData>()
            .Run(input.DryRunFlag, default);
        Console.WriteLine((input.DryRunFlag ? "dry-run " : "") + summary);
        return true;
    }
}
