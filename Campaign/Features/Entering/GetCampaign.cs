using Campaign.Pages;
using Campaign.Platform;
using Marten;

namespace Campaign.Features.Entering;

/// <summary>The campaign as the landing page and <c>GET /api/v1/campaign</c> show it.</summary>
public static class GetCampaign
{
    public sealed record CampaignView(
        string Title,
        DateTimeOffset? StartsAt,
        DateTimeOffset? EndsAt,
        string TimeZone,
        bool IsOpen,
        int EntrantCount
    );

    public static string Title(string locale) =>
        Language.Say(locale, "Heroku はじめてキャンペーン", "Heroku First Steps Campaign");

    /// <summary>Open between the bounds that are set; always open when none is.</summary>
    public static bool IsOpen(CampaignSettings campaign, DateTimeOffset now) =>
        (campaign.StartsAt is not { } start || now >= start)
        && (campaign.EndsAt is not { } end || now < end);

    public static async Task<CampaignView> Load(
        string locale,
        IQuerySession session,
        Settings settings,
        TimeProvider clock,
        CancellationToken cancellationToken
    ) =>
        new(
            Title(locale),
            settings.Campaign.StartsAt,
            settings.Campaign.EndsAt,
            settings.Campaign.TimeZone.Id,
            IsOpen(settings.Campaign, clock.GetUtcNow()),
            await session.Query<Entrant>().CountAsync(cancellationToken)
        );

    public static async Task<RazorComponentResult<LandingPage>> ShowLanding(
        HttpContext http,
        IQuerySession session,
        Settings settings,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        var campaign = await Load(locale, session, settings, clock, cancellationToken);
        return Page.Show<LandingPage>(
            new
            {
                Locale = locale,
                Campaign = campaign,
                Zone = settings.Campaign.TimeZone,
            }
        );
    }

    public static async Task<Ok<CampaignView>> Handle(
        HttpContext http,
        IQuerySession session,
        Settings settings,
        TimeProvider clock,
        CancellationToken cancellationToken
    ) =>
        TypedResults.Ok(await Load(Language.Of(http), session, settings, clock, cancellationToken));
}
