using System.Security.Claims;
using Campaign.Features.Entering;
using Campaign.Features.Photos;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Campaign.Platform;
using Marten;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Campaign.Features.Me;

/// <summary>
/// <c>GET /api/v1/me/export</c>: everything the app holds about the signed-in entrant, as one JSON
/// file (APPI gives everyone the right to see their data). Secrets are left out: the hashes of
/// sign-in tokens and the bodies of mails (erased once sent; they may hold a link).
/// </summary>
public static class ExportMyData
{
    public sealed record MyData(
        DateTimeOffset ExportedAt,
        GetMe.MeView Entrant,
        Consent Consent,
        IReadOnlyList<Upload> PhotoUploads,
        IReadOnlyList<SignInLinkRecord> SignInLinks,
        IReadOnlyList<MailRecord> Mail,
        int ActiveSessions
    );

    public sealed record Consent(string TermsVersion, DateTimeOffset AcceptedAt, bool CampaignMail);

    /// <summary>An upload signed for the entrant; <c>UsedAt</c> once attached or refused.</summary>
    public sealed record Upload(
        string Key,
        string ContentType,
        DateTimeOffset SignedAt,
        DateTimeOffset? UsedAt
    );

    public sealed record SignInLinkRecord(DateTimeOffset ExpiresAt, DateTimeOffset? UsedAt);

    public sealed record MailRecord(
        string Kind,
        string Subject,
        string Status,
        DateTimeOffset CreatedAt,
        DateTimeOffset? SentAt
    );

    public static async Task<Results<Ok<MyData>, ProblemHttpResult>> Handle(
        ClaimsPrincipal user,
        HttpContext http,
        IQuerySession session,
        RedisSessionStore sessions,
        PhotoStorage storage,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        var id = user.EntrantId();
        if (await session.LoadAsync<Entrant>(id, cancellationToken) is not { } entrant)
            return Problems.NotSignedIn(Language.Of(http));
        var uploads = await session
            .Query<PhotoUpload>()
            .Where(u => u.EntrantId == id)
            .OrderBy(u => u.CreatedAt)
            .ToListAsync(cancellationToken);
        var links = await session
            .Query<SignInToken>()
            .Where(t => t.EntrantId == id)
            .OrderBy(t => t.ExpiresAt)
            .ToListAsync(cancellationToken);
        var mail = await session
            .Query<OutboxMessage>()
            .Where(m => m.EntrantId == id)
            .OrderBy(m => m.CreatedAt)
            .ToListAsync(cancellationToken);

        // A file to keep, named for the day; the browser saves it instead of showing it, and no
        // cache on the way keeps a copy.
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers.ContentDisposition =
            $"attachment; filename=\"campaign-my-data-{clock.GetUtcNow():yyyy-MM-dd}.json\"";
        return TypedResults.Ok(
            new MyData(
                clock.GetUtcNow(),
                await GetMe.ViewOf(entrant, storage, clock),
                new Consent(entrant.TermsVersion, entrant.TermsAcceptedAt, entrant.CampaignMail),
                [.. uploads.Select(u => new Upload(u.Id, u.ContentType, u.CreatedAt, u.UsedAt))],
                [.. links.Select(t => new SignInLinkRecord(t.ExpiresAt, t.UsedAt))],
                [
                    .. mail.Select(m => new MailRecord(
                        m.Kind.ToString().ToLowerInvariant(),
                        m.Subject,
                        m.Status.ToString().ToLowerInvariant(),
                        m.CreatedAt,
                        m.SentAt
                    )),
                ],
                await sessions.CountOf(id)
            )
        );
    }
}
