using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
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
        // One-off commands keep stdout for their data (`heroku run ./Campaign ... > file`).
        // Made by the container, which disposes of it (writing what waits) when the host ends.
        logging.Services.AddSingleton<ILoggerProvider>(_ => new LogStream(
            role == AppRole.Command ? Console.OpenStandardError() : Console.OpenStandardOutput()
        ));
        return logging;
    }
}

/// <summary>
/// Writes log lines to stdout (stderr for one-off commands) from one loop, every line waiting in
/// one write: under a crowd, one write for many request lines instead of one write, and one wake of
/// a writer thread, per line (with .NET's console logger, the landing page's request line took
/// 27 µs of its 99: bench/README.md). A line is formatted where it is logged, so it says what was
/// true then; it is written within moments, and every line is written before the process ends
/// (the container disposes of the provider, and so does the process's exit).
/// </summary>
sealed class LogStream : ILoggerProvider
{
    // Past this many lines waiting (the output blocked), logging waits, as the console logger does.
    const int MaxWaiting = 10_000;

    readonly Channel<string> lines = Channel.CreateBounded<string>(
        new BoundedChannelOptions(MaxWaiting)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        }
    );
    readonly StreamWriter writer;
    readonly Thread writing;

    public LogStream(Stream output)
    {
        writer = new StreamWriter(output, new UTF8Encoding(false), 64 * 1024);
        // A thread of its own, as the console logger has: logging that waits for room must not
        // wait for a thread-pool thread to write.
        writing = new Thread(Write) { IsBackground = true, Name = "Log writer" };
        writing.Start();
        // A process that ends without disposing of its host, or of an unhandled exception, still
        // writes what waits (the lines that say why, above all).
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
        AppDomain.CurrentDomain.UnhandledException += (_, _) => Dispose();
    }

    public ILogger CreateLogger(string category) => new Logger(category, this);

    void Add(string line)
    {
        if (lines.Writer.TryWrite(line))
            return;
        try
        {
            // Full: wait for room, as long as the host would wait for a request; a wait given up
            // takes its line back, which is then written at once.
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            lines.Writer.WriteAsync(line, patience.Token).AsTask().GetAwaiter().GetResult();
            return;
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException) { }
        // Logged while the process stops, after the last batch, or with the output blocked.
        WriteNow([line]);
    }

    void Write()
    {
        var reader = lines.Reader;
        var batch = new List<string>();
        while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
        {
            while (reader.TryRead(out var line))
                batch.Add(line);
            WriteNow(batch);
            batch.Clear();
        }
    }

    void WriteNow(IEnumerable<string> batch)
    {
        lock (writer)
            try
            {
                foreach (var line in batch)
                    writer.Write(line);
                writer.Flush();
            }
            catch (Exception)
            {
                // The output is gone (its reader ended, or it was closed): there is nowhere left
                // to say so, and the writing goes on for when it comes back.
            }
    }

    public void Dispose()
    {
        lines.Writer.TryComplete();
        writing.Join(TimeSpan.FromSeconds(5));
    }

    sealed class Logger(string category, LogStream stream) : ILogger
    {
        [ThreadStatic]
        static StringWriter? buffer;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(
            LogLevel logLevel,
            EventId eventId,
            TState state,
            Exception? exception,
            Func<TState, Exception?, string> formatter
        )
        {
            if (!IsEnabled(logLevel))
                return;
            var text = buffer ??= new StringWriter();
            var line = text.GetStringBuilder();
            try
            {
                OneLineFormatter.Write(
                    logLevel,
                    category,
                    formatter(state, exception),
                    exception,
                    text
                );
                stream.Add(line.ToString());
            }
            finally
            {
                line.Clear(); // also after a formatter that threw: the next line starts empty
            }
        }
    }
}

/// <summary>
/// <c>info Campaign.Requests: method=GET path=/hello ...</c>: no timestamp (Heroku stamps every
/// line), no colours, and an exception kept on the same line so that one event stays one line.
/// </summary>
static class OneLineFormatter
{
    public static void Write(
        LogLevel logLevel,
        string category,
        string message,
        Exception? exception,
        TextWriter writer
    )
    {
        if (exception is not null)
            message += $" exception=\"{LogRedaction.Describe(exception)}\"";
        message = LogRedaction.Scrub(message);
        var level = logLevel switch
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
        writer.Write(category);
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
