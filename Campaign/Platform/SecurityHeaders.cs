namespace Campaign.Platform;

/// <summary>
/// Headers on every response that tell browsers to be strict: run only this site's scripts and
/// styles, talk only to this site and the photo bucket, never frame the pages, never guess types.
/// https://developer.mozilla.org/docs/Web/HTTP/CSP
/// </summary>
public static class SecurityHeaders
{
    public static IApplicationBuilder UseSecurityHeaders(
        this IApplicationBuilder app,
        Func<string> photoOrigin
    )
    {
        // The origin comes from the S3 client, whose first use takes a while: asked for by the first
        // response, not before Kestrel starts (the web process's warm-up has the client make its
        // first one on another thread meanwhile).
        var policy = new Lazy<string>(() => Policy(photoOrigin()));
        // Set as the response starts, not before the rest of the pipeline runs: the error handler
        // clears the headers of a response it replaces, and a 500 or 503 page needs them too.
        return app.Use(
            (context, next) =>
            {
                var response = context.Response;
                response.OnStarting(() =>
                {
                    var headers = response.Headers;
                    headers.ContentSecurityPolicy = policy.Value;
                    headers.XContentTypeOptions = "nosniff";
                    headers["Referrer-Policy"] = "strict-origin-when-cross-origin";
                    headers["Permissions-Policy"] =
                        "camera=(), microphone=(), geolocation=(), payment=()";
                    return Task.CompletedTask;
                });
                return next(context);
            }
        );
    }

    static string Policy(string photoOrigin) =>
        string.Join(
            "; ",
            "default-src 'self'",
            $"img-src 'self' data: {photoOrigin}",
            $"connect-src 'self' {photoOrigin}",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'"
        );
}
