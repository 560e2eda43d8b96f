using Coravel.Invocable;

namespace Campaign.Mail;

/// <summary>
/// The fast path, queued in-process with Coravel right after the transaction that wrote the messages
/// (with this process's lease on them) commits: one task for all the mail of one transaction (a
/// batch of entries), not one per message. The queue lives in memory and dies with the process; the
/// outbox rows do not, and the sweep sends whatever this missed.
/// </summary>
public sealed partial class DeliverMail(MailRelay relay, ILogger<DeliverMail> logger)
    : IInvocable,
        IInvocableWithPayload<IReadOnlyList<OutboxMessage>>
{
    static readonly TimeSpan Patience = TimeSpan.FromMinutes(1);

    public IReadOnlyList<OutboxMessage> Payload { get; set; } = [];

    public async Task Invoke()
    {
        // A delivery holds the fast path's turn: one that hangs must not stop the mail behind it.
        using var patience = new CancellationTokenSource(Patience);
        try
        {
            await relay.DeliverAsync(Payload, patience.Token);
        }
        catch (Exception e)
        {
            // Coravel's queue drops what a queued task throws without a word: say it here. The
            // message stays in the outbox: a call that gave up waiting for the fast path's turn
            // left it to the call holding the turn, and one whose send failed left it to the sweep.
            Failed(
                logger,
                string.Join(",", Payload.Select(m => m.Id)),
                e.GetType().Name,
                e.Message
            );
        }
    }

    [LoggerMessage(
        Level = LogLevel.Error,
        Message = "mail not delivered by this fast-path call outbox_ids={OutboxIds} error={Error}: {Reason}; the call holding the turn or the sweep will send it"
    )]
    static partial void Failed(ILogger logger, string outboxIds, string error, string reason);
}

/// <summary>The safety net: the clock runs it every minute (<c>Clock/Schedule.cs</c>).</summary>
public sealed class SweepOutbox(MailRelay relay, ILogger<SweepOutbox> logger) : IInvocable
{
    public async Task Invoke()
    {
        var handled = await relay.SweepAsync();
        if (handled > 0)
            logger.LogInformation("outbox sweep handled={Handled}", handled);
    }
}
