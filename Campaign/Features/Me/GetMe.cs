using System.Security.Claims;
using Campaign.Features.Entering;
using Campaign.Features.SignIn;
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
        string TermsVersion
    );

    public static MeView AsMeView(this Entrant entrant) =>
        new(
            entrant.Id,
            entrant.Email,
            entrant.DisplayName,
            entrant.Locale,
            entrant.Status == EntrantStatus.Confirmed ? "confirmed" : "pending",
            entrant.CampaignMail,
            entrant.CreatedAt,
            entrant.ConfirmedAt,
            entrant.TermsVersion
        );

    public static async Task<Results<Ok<MeView>, ProblemHttpResult>> Handle(
        ClaimsPrincipal user,
        HttpContext http,
        IQuerySession session,
        CancellationToken cancellationToken
    ) =>
        await session.LoadAsync<Entrant>(user.EntrantId(), cancellationToken) switch
        {
            { } entrant => TypedResults.Ok(entrant.AsMeView()),
            null => Problems.NotSignedIn(Language.Of(http)),
        };
}
