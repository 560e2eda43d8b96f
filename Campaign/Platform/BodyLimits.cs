using Microsoft.AspNetCore.Mvc;

namespace Campaign.Platform;

/// <summary>
/// What anyone may send: every body this app takes is a small JSON document or a small form, so
/// nothing is read past <see cref="MaxBytes"/> (Kestrel's own limit is 30 MB), a form has few
/// fields, and a field is short. Set per route group: the antiforgery check reads a form before
/// its handler does, and these limits apply from routing on.
/// https://learn.microsoft.com/aspnet/core/fundamentals/minimal-apis/middleware#limit-request-body-size
/// </summary>
public static class BodyLimits
{
    public const int MaxBytes = 16 * 1024;
    const int MaxFormFields = 16;
    const int MaxFieldNameLength = 64;

    public static TBuilder WithSmallBodies<TBuilder>(this TBuilder routes)
        where TBuilder : IEndpointConventionBuilder =>
        routes
            .WithMetadata(new RequestSizeLimitAttribute(MaxBytes))
            .WithFormOptions(
                bufferBodyLengthLimit: MaxBytes,
                valueCountLimit: MaxFormFields,
                keyLengthLimit: MaxFieldNameLength,
                valueLengthLimit: MaxBytes,
                multipartBodyLengthLimit: MaxBytes
            );
}
