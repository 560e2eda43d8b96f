namespace Campaign.Clock;

/// <summary>
/// The clock role (<c>./Campaign clock</c>, exactly one dyno): it serves no HTTP and runs the timed
/// work of <c>Clock/Schedule.cs</c>. It says in the log when it starts and stops (SIGTERM, as Heroku
/// sends on every restart).
/// </summary>
public sealed class ClockProcess(ILogger<ClockProcess> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        logger.LogInformation("clock started; running Clock/Schedule.cs");
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        logger.LogInformation("clock stopping");
        return Task.CompletedTask;
    }
}
