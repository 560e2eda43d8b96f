using Campaign.Features.Entering;
using Campaign.Platform;
using Coravel.Invocable;
using Marten;

namespace Campaign.Features.Reminders;

/// <summary>
/// The clock asks every minute rather than once at the send time, because a scheduler does not
/// re-run a minute it missed: "is it past tonight's send time, is the campaign open, and is
/// tonight's run not complete?" A clock that boots at 20:07 after a restart still sends tonight's
/// reminders; one that already sent them does nothing.
/// </summary>
public sealed class NightlyMailJob(
    RunNightlyMail run,
    IQuerySession session,
    Settings settings,
    TimeProvider clock
) : IInvocable, ICancellableInvocable
{
    public CancellationToken CancellationToken { get; set; }

    public async Task Invoke()
    {
        var now = clock.GetUtcNow();
        var (night, pastSendTime) = NightlyReminder.Tonight(now, settings);
        if (!pastSendTime || !GetCampaign.IsOpen(settings.Campaign, now))
            return;
        if (
            await session.LoadAsync<NightlyRun>(NightlyRun.IdOf(night), CancellationToken) is
            { CompletedAt: not null }
        )
            return;
        await run.Run(night, dryRun: false, progress: null, CancellationToken);
    }
}
