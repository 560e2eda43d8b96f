using System.Diagnostics;

namespace Campaign.Platform;

/// <summary>
/// What a new web dyno's first requests would otherwise wait for (the first PostgreSQL and Redis
/// connections, the document store, the code paths they compile), started on another thread while
/// the host finishes starting: Heroku's router sends requests as soon as Kestrel binds $PORT, and a
/// dyno added for a spike meets a crowd. Each step is work the first request would do anyway, and
/// one that fails is only logged: the request that needs it then meets the error itself, as it would
/// have without the warm-up.
/// </summary>
public static partial class WarmUp
{
    public delegate Task Step(IServiceProvider services);

    public static void Start(IServiceProvider services, params (string Name, Step Run)[] steps)
    {
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Campaign.WarmUp");
        _ = Task.Run(async () =>
        {
            var watch = Stopwatch.StartNew();
            foreach (var (name, run) in steps)
            {
                try
                {
                    await run(services);
                }
                catch (Exception e)
                {
                    Failed(logger, name, e.GetType().Name, e.Message);
                }
            }
            Done(logger, watch.ElapsedMilliseconds);
        });
    }

    [LoggerMessage(LogLevel.Warning, "warm-up: {Step} failed ({Type}: {Message})")]
    static partial void Failed(ILogger logger, string step, string type, string message);

    [LoggerMessage(LogLevel.Information, "warm-up: done in ms={Elapsed}")]
    static partial void Done(ILogger logger, long elapsed);
}
