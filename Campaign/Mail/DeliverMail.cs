using Coravel.Invocable;

namespace Campaign.Mail;

/// <summary>
/// The fast path, queued in-process with Coravel right after the transaction that wrote the message
/// (with this process's lease on it) commits. The queue lives in memory and dies with the process; the outbox row does not, and the
/// sweep sends whatever this missed.
/// </summary>
public sealed class DeliverMail(MailRelay relay) : IInvocable, IInvocableWithPayload<OutboxMessage>
{
    public OutboxMessage Payload { get; set; } = null!;

    public Task Invoke() => relay.DeliverAsync(Payload);
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
