using System.Security.Claims;
using Campaign.Features.Entering;
using Campaign.Features.Photos;
using Campaign.Features.SignIn;
using Campaign.Pages;
using Campaign.Platform;
using Marten;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Campaign.Features.Me;

/// <summary>The signed-in entrant: <c>GET /api/v1/me</c> and the <c>/me</c> page.</summary>
public static class GetMe
{
    public sealed record MeView(
        Guid Id,
        string Email,
        string DisplayName,
        string Locale,
        string Status,
        bool CampaignMail,
        DateTimeOffset EnteredAt,
        DateTimeOffset? ConfirmedAt,
        string TermsVersion,
        PhotoView? Photo
    );

    /// <summary>The photo, with a URL that works for a few minutes (the bucket is private).</summary>
    public sealed record PhotoView(
        string Url,
        string ContentType,
        long Bytes,
        DateTimeOffset AttachedAt
    );

    public static async Task<PhotoView?> PhotoOf(
        Photo? photo,
        PhotoStorage storage,
        TimeProvider clock
    ) =>
        photo is null
            ? null
            : new PhotoView(
                await storage.ViewUrl(photo.Key, clock.GetUtcNow()),
                photo.ContentType,
                photo.Bytes,
                photo.AttachedAt
            );

    public static async Task<MeView> ViewOf(
        Entrant entrant,
        PhotoStorage storage,
        TimeProvider clock
    ) =>
        new(
            entrant.Id,
            entrant.Email,
            entrant.DisplayName,
            entrant.Locale,
            entrant.Status == EntrantStatus.Confirmed ? "confirmed" : "pending",
            entrant.CampaignMail,
            entrant.CreatedAt,
            entrant.ConfirmedAt,
            entrant.TermsVersion,
            await PhotoOf(entrant.Photo, storage, clock)
        );

    /// <summary><c>/me</c>: the entrant's page, or for a visitor who is not signed in, a form to get a link.</summary>
    public static async Task<IResult> ShowPage(
        ClaimsPrincipal user,
        HttpContext http,
        IQuerySession session,
        PhotoStorage storage,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        var entrant = user.EntrantIdOrNull() is { } id
            ? await session.LoadAsync<Entrant>(id, cancellationToken)
            : null;
        return entrant is null
            ? Page.Show<SignedOutPage>(new { Locale = locale })
            : Page.Show<MePage>(
                new { Locale = locale, Entrant = await ViewOf(entrant, storage, clock) }
            );
    }

    public static async Task<Results<Ok<MeView>, ProblemHttpResult>> Handle(
        ClaimsPrincipal user,
        HttpContext http,
        IQuerySession session,
        PhotoStorage storage,
        TimeProvider clock,
        CancellationToken cancellationToken
    ) =>
        await session.LoadAsync<Entrant>(user.EntrantId(), cancellationToken) switch
        {
            { } entrant => TypedResults.Ok(await ViewOf(entrant, storage, clock)),
            null => Problems.NotSignedIn(Language.Of(http)),
        };
}
