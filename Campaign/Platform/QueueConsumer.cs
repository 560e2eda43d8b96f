using Coravel.Events.Interfaces;
using Coravel.Queuing;
using Coravel.Queuing.Interfaces;

namespace Campaign.Platform;

/// <summary>
/// Consumes Coravel's in-process queue (<see cref="IQueue"/>): every <c>ConsummationDelay</c>
/// seconds while the process runs (appsettings.json, <c>Coravel:Queue</c>), and once more when it
/// stops, so that everything queued before SIGTERM is done before the process exits.
/// https://docs.coravel.net/Queuing/
/// <para>
/// It stands in for Coravel's own consumer (<c>QueuingHost</c>, which <c>AddQueue()</c> registers).
/// In Coravel 6.0.2 that one begins its last round at shutdown while a periodic round may still be
/// taking tasks, and the two take them from the queue at once; the queue's <c>DequeueAllTasks</c>
/// looks at the next task (<c>TryPeek</c>) before it takes it (<c>TryDequeue</c>), so when the
/// other round takes the last one in between, it is handed <c>null</c>, and running <c>null</c>
/// throws a NullReferenceException out of the host's StopAsync. Here one round runs at a time: the
/// last one begins after the periodic ones have ended.
/// </para>
/// </summary>
public sealed partial class QueueConsumer(
    Queue queue,
    IConfiguration configuration,
    ILogger<QueueConsumer> logger
) : IHostedService
{
    readonly CancellationTokenSource stopping = new();
    Task periodic = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Coravel's default when the setting is missing.
        var delay = TimeSpan.FromSeconds(
            configuration.GetValue("Coravel:Queue:ConsummationDelay", 30)
        );
        // In the background, so that the host's start does not wait for the first round.
        periodic = Task.Run(() => ConsumeEvery(delay, stopping.Token));
        return Task.CompletedTask;
    }

    /// <summary>A round at once (as Coravel's), then one per tick until the process stops.</summary>
    async Task ConsumeEvery(TimeSpan delay, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(delay);
        try
        {
            do await Round();
            while (await timer.WaitForNextTickAsync(stop));
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopping: StopAsync consumes what is left.
        }
    }

    /// <summary>One round; one that fails is said, and the next tick brings the next round.</summary>
    async Task Round()
    {
        try
        {
            await queue.ConsumeQueueAsync();
        }
        catch (Exception e)
        {
            RoundFailed(logger, e.GetType().Name, e.Message);
        }
    }

    [LoggerMessage(
        Level = LogLevel.Error,
        Message = "queue round failed error={Error}: {Reason}; the next round goes on"
    )]
    static partial void RoundFailed(ILogger logger, string error, string reason);

    /// <summary>
    /// No new periodic round begins; the one under way (tasks already taken from the queue)
    /// finishes, within the host's shutdown timeout (25 s, Program.cs, before Heroku's SIGKILL at
    /// 30 s); then whatever is still queued is done. What SIGKILL cuts short, the outbox's sweep
    /// sends.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync();
        try
        {
            // The round under way, for as long as the host waits (its shutdown timeout).
            await periodic.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Past the host's patience: what is still queued is handed over all the same.
        }
        await queue.ConsumeQueueOnShutdown();
    }
}

public static class InProcessQueue
{
    /// <summary>
    /// Coravel's <c>AddQueue()</c> with <see cref="QueueConsumer"/> as its consumer: the queue that
    /// handlers are given (<see cref="IQueue"/>) is Coravel's, built as Coravel builds it.
    /// </summary>
    public static IServiceCollection AddInProcessQueue(this IServiceCollection services)
    {
        services.AddSingleton(services => new Queue(
            services.GetRequiredService<IServiceScopeFactory>(),
            services.GetService<IDispatcher>()
        ));
        services.AddSingleton<IQueue>(services => services.GetRequiredService<Queue>());
        return services.AddHostedService<QueueConsumer>();
    }
}
