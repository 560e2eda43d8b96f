using System.Diagnostics;

namespace Campaign.Platform;

/// <summary>
/// One log line per request, in the router's key=value style, carrying the router's
/// <c>X-Request-ID</c> so a line of ours can be matched with the router's line for the same request.
/// The query string is left out: it is the client's, and may hold what must not be logged.
/// https://devcenter.heroku.com/articles/http-request-id
/// </summary>
public static partial class RequestLog
{
    public static IApplicationBuilder UseRequestLog(this IApplicationBuilder app)
    {
        var logger = app
            .ApplicationServices.GetRequiredService<ILoggerFactory>()
            .CreateLogger("Campaign.Requests");
        var dyno = app.ApplicationServices.GetRequiredService<Settings>().Dyno;
        return app.Use(
            async (context, next) =>
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await next(context);
                }
                finally
                {
                    var elapsed = Stopwatch.GetElapsedTime(started);
                    LogRequest(
                        logger,
                        context.Request.Method,
                        context.Request.Path.ToUriComponent(),
                        context.Response.StatusCode,
                        elapsed.TotalMilliseconds,
                        RequestId(context),
                        dyno
                    );
                }
            }
        );
    }

    static string RequestId(HttpContext context)
    {
        var id = context.Request.Headers["X-Request-ID"].ToString();
        return id.Length is > 0 and <= 200 ? id : "-";
    }

    [LoggerMessage(
        Level = LogLevel.Information,
        Message = "method={Method} path={Path} status={Status} service={DurationMs:0.0}ms request_id={RequestId} dyno={Dyno}"
    )]
    static partial void LogRequest(
        ILogger logger,
        string method,
        string path,
        int status,
        double durationMs,
        string requestId,
        string dyno
    );
}
