using Microsoft.AspNetCore.Diagnostics;
using Npgsql;
using StackExchange.Redis;

namespace Campaign.Platform;

/// <summary>
/// Every error the app can produce gets a body: RFC 9457 problem details, never an empty answer or
/// a stack trace. Bodies that cannot be read (malformed JSON, wrong types, a wrong content type, too
/// large) are 400, 415 or 413; a backing service that fails or times out is 503; anything else 500.
/// </summary>
public static class ErrorResponses
{
    public static IServiceCollection AddErrorResponses(this IServiceCollection services)
    {
        services.AddProblemDetails(options =>
            options.CustomizeProblemDetails = context =>
            {
                // The router's X-Request-ID, which our request log carries too, instead of a trace
                // id that no log of ours shows.
                context.ProblemDetails.Extensions.Remove("traceId");
                if (
                    context.HttpContext.Request.Headers["X-Request-ID"]
                    is [{ Length: > 0 and <= 200 } id]
                )
                    context.ProblemDetails.Extensions["requestId"] = id;
                var error = context.HttpContext.Features.Get<IExceptionHandlerFeature>()?.Error;
                context.ProblemDetails.Detail ??= error switch
                {
                    BadHttpRequestException bad => Explain(bad),
                    OperationCanceledException => "The server is restarting. Try again.",
                    _ when IsBackingServiceFailure(error) =>
                        "A backing service did not answer in time. Try again shortly.",
                    _ => context.ProblemDetails.Status switch
                    {
                        StatusCodes.Status413PayloadTooLarge => "The request body is too large.",
                        StatusCodes.Status415UnsupportedMediaType =>
                            "Send the body as JSON, with Content-Type: application/json.",
                        _ => null,
                    },
                };
            }
        );
        // Binding failures become exceptions, so that the handler below can answer them.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        return services;
    }

    /// <summary>
    /// Problem details for the API (and any client that asks for JSON); for people, the page that
    /// <paramref name="writePage"/> writes.
    /// </summary>
    public static IApplicationBuilder UseErrorResponses(
        this IApplicationBuilder app,
        Func<HttpContext, Task> writePage
    )
    {
        Task Write(HttpContext http, Exception? error) =>
            WantsProblem(http.Request)
                ? http
                    .RequestServices.GetRequiredService<IProblemDetailsService>()
                    .WriteAsync(new ProblemDetailsContext { HttpContext = http, Exception = error })
                    .AsTask()
                : writePage(http);

        // A 503 says when to come back (a stopping dyno, a backing service down, the request's
        // time-out): a client retries then, not at once.
        app.Use(
            (http, next) =>
            {
                http.Response.OnStarting(
                    static state =>
                    {
                        var response = (HttpResponse)state;
                        if (
                            response.StatusCode == StatusCodes.Status503ServiceUnavailable
                            && response.Headers.RetryAfter.Count == 0
                        )
                            response.Headers.RetryAfter = RetryAfterSeconds;
                        return Task.CompletedTask;
                    },
                    http.Response
                );
                return next(http);
            }
        );
        return app.UseExceptionHandler(
                new ExceptionHandlerOptions
                {
                    ExceptionHandler = http =>
                        Write(http, http.Features.Get<IExceptionHandlerFeature>()?.Error),
                    StatusCodeSelector = error =>
                        error switch
                        {
                            BadHttpRequestException bad => StatusOf(bad),
                            // A dyno stopping (SIGTERM) cuts short a request still arriving: the
                            // client may retry, and the router sends it to another dyno.
                            OperationCanceledException => StatusCodes.Status503ServiceUnavailable,
                            _ when IsBackingServiceFailure(error) =>
                                StatusCodes.Status503ServiceUnavailable,
                            _ => StatusCodes.Status500InternalServerError,
                        },
                    // A client's malformed request is not the app's error: no error log for it.
                    SuppressDiagnosticsCallback = context =>
                        context.Exception is BadHttpRequestException,
                }
            )
            .UseStatusCodePages(context => Write(context.HttpContext, null));
    }

    /// <summary>How long a client waits after a 503 before it tries again.</summary>
    public const string RetryAfterSeconds = "5";

    // A form too large to read fails the anti-forgery check that reads it first: the answer is
    // what stopped the reading (413), not a missing token (400).
    static int StatusOf(BadHttpRequestException bad) =>
        bad.InnerException is { } inner
        && Causes(inner).OfType<BadHttpRequestException>().FirstOrDefault() is { } cause
            ? cause.StatusCode
            : bad.StatusCode;

    static IEnumerable<Exception> Causes(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
            yield return e;
    }

    static bool WantsProblem(HttpRequest request) =>
        request.Path.StartsWithSegments("/api")
        || request.Headers.Accept.ToString().Contains("json", StringComparison.OrdinalIgnoreCase);

    // The framework's own messages speak of parameters and services; a client needs to know what
    // to change in its request.
    static string Explain(BadHttpRequestException bad) =>
        bad.StatusCode switch
        {
            StatusCodes.Status413PayloadTooLarge => "The request body is too large.",
            StatusCodes.Status415UnsupportedMediaType =>
                "Send the body as JSON, with Content-Type: application/json.",
            _ when bad.Message.Contains("no body was provided") => "The request needs a JSON body.",
            _ when bad.Message.Contains("as JSON") =>
                "The body is not valid JSON, or a field has the wrong type.",
            _ when bad.Message.Contains("anti-forgery", StringComparison.OrdinalIgnoreCase) =>
                "The form's anti-forgery token is missing or not valid: reload the form and send it again.",
            _ => "The request could not be read.",
        };

    /// <summary>PostgreSQL or Redis refused, failed or timed out (also when wrapped, as Marten does).</summary>
    public static bool IsBackingServiceFailure(Exception? error) =>
        error is NpgsqlException or RedisException or TimeoutException
        || error?.InnerException is NpgsqlException or RedisException or TimeoutException;
}
