using Microsoft.Extensions.Logging;

namespace Campaign.Tests;

/// <summary>
/// The in-process app's warnings and errors, appended to the file bin/test names in
/// <c>CAMPAIGN_TEST_APP_LOG</c>: xunit shows none of the app's console output, and a test that
/// fails once in CI is read with the app's side of it (bin/test prints the file's end on a failure).
/// Each line names the app's schema, which tells test hosts apart.
/// </summary>
sealed class AppLog(string path, string host) : ILoggerProvider
{
    static readonly Lock Writing = new();

    public ILogger CreateLogger(string categoryName) => new Logger(path, host, categoryName);

    public void Dispose() { }

    sealed class Logger(string path, string host, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(
            LogLevel logLevel,
            EventId eventId,
            TState state,
            Exception? exception,
            Func<TState, Exception?, string> formatter
        )
        {
            // Said of every request with a size limit: the in-memory test server has none to apply
            // (the tests on Kestrel check the limits).
            if (!IsEnabled(logLevel) || category.EndsWith(".EndpointRoutingMiddleware"))
                return;
            var message = formatter(state, exception).ReplaceLineEndings(" | ");
            var error = exception is null
                ? ""
                : " " + exception.ToString().ReplaceLineEndings(" | ");
            var line =
                $"{DateTime.UtcNow:HH:mm:ss.fff} {host} {logLevel} {category}: {message}{error}{Environment.NewLine}";
            lock (Writing)
                File.AppendAllText(path, line);
        }
    }
}
