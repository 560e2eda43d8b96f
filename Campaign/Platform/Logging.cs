using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Npgsql;

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
            message += $" exception=\"{LogRedaction.Describe(exception)}\"";
        message = LogRedaction.Scrub(message);
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

/// <summary>
/// Nothing that names someone or opens their account reaches the logs (Papertrail keeps them, and
/// more people read them than the database). Our own lines name ids only; what a library writes is
/// checked here: PostgreSQL's messages of data errors quote the value (22P02), so they are withheld,
/// and any e-mail address or sign-in token left in a line is masked.
/// </summary>
public static partial class LogRedaction
{
    /// <summary>An exception and its causes, each with its type, message and stack.</summary>
    public static string Describe(Exception exception)
    {
        var text = new StringBuilder();
        for (Exception? e = exception; e is not null; e = e.InnerException)
        {
            if (e != exception)
                text.Append(" ---> ");
            text.Append(e.GetType().FullName).Append(": ").Append(MessageOf(e));
            if (e.StackTrace is { } stack)
                text.Append(' ').Append(stack);
        }
        return text.ToString();
    }

    static string MessageOf(Exception e) =>
        e switch
        {
            // Classes whose messages name only objects of the schema: connection (08), integrity
            // constraints (23), rollbacks (40), syntax and undefined objects (42), resources (53),
            // operator intervention (57). Others, data exceptions (22) above all, quote values.
            PostgresException pg
                when pg.SqlState[..2] is "08" or "23" or "40" or "42" or "53" or "57" =>
                $"{pg.SqlState}: {pg.MessageText}",
            PostgresException pg => $"{pg.SqlState}: (message withheld: it can quote a value)",
            _ => e.Message,
        };

    /// <summary>A line with e-mail addresses masked (<c>***@example.jp</c>) and tokens removed.</summary>
    public static string Scrub(string line)
    {
        // Most lines (one per request) hold neither: a look for the one character or word each
        // pattern needs costs far less than the patterns, which try every position of the line.
        if (line.Contains('@'))
            line = Address().Replace(line, "***@$1");
        if (
            line.Contains("token", StringComparison.OrdinalIgnoreCase)
            || line.Contains("session", StringComparison.OrdinalIgnoreCase)
        )
            line = Token().Replace(line, "${name}=***");
        return line;
    }

    [GeneratedRegex(@"[A-Za-z0-9.!#$%&'*+?^_`{|}~-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")]
    private static partial Regex Address();

    // A sign-in link's fragment (#token=...), an unsubscribe token, a session key: base64url runs
    // after the names that carry them.
    [GeneratedRegex(
        @"(?<name>token|session)[=:/](?!\*\*\*)[A-Za-z0-9_-]{16,}",
        RegexOptions.IgnoreCase
    )]
    private static partial Regex Token();
}
