using Microsoft.Extensions.Logging.Console;

namespace Campaign.Platform;

/// <summary>
/// Logs are an event stream on stdout, one line per event, collected by Heroku's Logplex; nothing is
/// written to local files (a dyno's disk is ephemeral). https://12factor.net/logs
/// </summary>
public static class Logging
{
    public static ILoggingBuilder AddCampaignConsole(this ILoggingBuilder logging, AppRole role)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            // Heroku stamps every line with its own time.
            options.TimestampFormat = null;
        });
        if (role == AppRole.Command)
            // One-off commands keep stdout for their data (`heroku run ./Campaign ... > file`).
            logging.Services.Configure<ConsoleLoggerOptions>(options =>
                options.LogToStandardErrorThreshold = LogLevel.Trace
            );
        return logging;
    }
}
