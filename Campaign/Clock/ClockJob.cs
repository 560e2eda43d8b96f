using System.Diagnostics;
using Coravel.Invocable;

namespace Campaign.Clock;

/// <summary>
/// A job of the schedule as the clock runs it: resolved from the clock's own container, named in
/// the log when it ends (with its time, or its error), so that an operator sees each job run and a
/// failing one stands out. Coravel alone would swallow the error.
/// </summary>
public sealed partial class ClockJob<T>(T job, ILogger<ClockJob<T>> logger)
    : IInvocable,
        ICancellableInvocable
    where T : IInvocable
{
    public CancellationToken CancellationToken { get; set; }

    public async Task Invoke()
    {
        if (job is ICancellableInvocable cancellable)
            cancellable.CancellationToken = CancellationToken;
        var started = Stopwatch.GetTimestamp();
        try
        {
            await job.Invoke();
            LogRan(logger, typeof(T).Name, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e)
        {
            LogFailed(logger, e, typeof(T).Name, e.GetType().Name);
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "clock job={Job} ran ms={Ms:0}")]
    static partial void LogRan(ILogger logger, string job, double ms);

    [LoggerMessage(Level = LogLevel.Error, Message = "clock job={Job} failed error={Error}")]
    static partial void LogFailed(ILogger logger, Exception exception, string job, string error);
}

/// <summary>
/// <c>./Campaign clock run NAME</c>: one job of the schedule, now, in the clock's container; exits
/// non-zero when it fails. <c>./Campaign clock run</c> lists the names.
/// </summary>
public static class ClockJobs
{
    public static async Task<int> RunOnce(IHost host, string? name)
    {
        var job = Schedule.Jobs.FirstOrDefault(t =>
            string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase)
        );
        if (job is null)
        {
            await Console.Error.WriteLineAsync(
                $"usage: ./Campaign clock run NAME, with NAME one of: {string.Join(", ", Schedule.Jobs.Select(t => t.Name))}"
            );
            return 2;
        }
        // Started for the services that run beside a job (the mail queue), stopped to flush them.
        await host.StartAsync();
        try
        {
            await using var scope = host.Services.CreateAsyncScope();
            var invocable = (IInvocable)
                scope.ServiceProvider.GetRequiredService(typeof(ClockJob<>).MakeGenericType(job));
            await invocable.Invoke();
            return 0;
        }
        catch (Exception)
        {
            return 1; // named in the log by ClockJob
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
