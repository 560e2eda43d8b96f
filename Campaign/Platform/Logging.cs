using Microsoft.Extensions.Logging.Abstractions;
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
        logging.AddConsole(options => options.FormatterName = OneLineFormatter.Name);
        logging.AddConsoleFormatter<OneLineFormatter, ConsoleFormatterOptions>();
        if (role == AppRole.Command)
            // One-off commands keep stdout for their data (`heroku run ./Campaign ... > file`).
            logging.Services.Configure<ConsoleLoggerOptions>(options =>
                options.LogToStandardErrorThreshold = LogLevel.Trace
            );
        return logging;
    }
}

/// <summary>
/// <c>info Campaign.Requests: method=GET path=/hello ...</c>: no timestamp (Heroku stamps every
/// line), no colours, and an exception kept on the same line so that one event stays one line.
/// </summary>
sealed class OneLineFormatter() : ConsoleFormatter(Name)
{
    public new const string Name = "one-line";

    public override void Write<TState>(
        in LogEntry<TState> entry,
        IExternalScopeProvider? scopes,
        TextWriter writer
    )
    {
        var message = entry.Formatter(entry.State, entry.Exception);
        if (entry.Exception is { } exception)
            message += $" exception=\"{exception}\"";
        var level = entry.LogLevel switch
        {
            LogLevel.Trace => "trce",
            LogLevel.Debug => "dbug",
            LogLevel.Information => "info",
            LogLevel.Warning => "warn",
            LogLevel.Error => "fail",
            _ => "crit",
        };
        writer.Write(level);
        writer.Write(' ');
        writer.Write(entry.Category);
        writer.Write(": ");
        writer.WriteLine(message.ReplaceLineEndings(" | "));
    }
}
