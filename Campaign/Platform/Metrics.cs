using System.Globalization;

namespace Campaign.Platform;

/// <summary>
/// Metrics as log lines in the l2met convention (<c>count#</c>, <c>measure#</c>, <c>sample#</c>):
/// no agent and no library, a log drain that understands them (Librato, for one) charts and alerts
/// on them. https://devcenter.heroku.com/articles/librato#custom-log-based-metrics
/// </summary>
public sealed partial class Metrics(ILogger<Metrics> logger, HourlyTally? hourly = null)
{
    /// <summary>
    /// Something happened <paramref name="by"/> times (entries, mails sent); also counted for the
    /// operators' dashboard (<see cref="HourlyTally"/>) where the role keeps one.
    /// </summary>
    public void Count(string name, int by = 1)
    {
        Log(logger, $"count#{name}={by}");
        hourly?.Add(name, by);
    }

    /// <summary>How long or how large one occurrence was (a nightly run's seconds).</summary>
    public void Measure(string name, double value, string unit) =>
        Log(
            logger,
            $"measure#{name}={value.ToString("0.###", CultureInfo.InvariantCulture)}{unit}"
        );

    /// <summary>The current value of something (the outbox backlog).</summary>
    public void Sample(string name, double value, string unit = "") =>
        Log(logger, $"sample#{name}={value.ToString("0.###", CultureInfo.InvariantCulture)}{unit}");

    [LoggerMessage(Level = LogLevel.Information, Message = "{Metric}")]
    static partial void Log(ILogger logger, string metric);
}
