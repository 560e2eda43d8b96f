using Campaign.Pages;
using Campaign.Platform;

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
        EntrantCount entrants,
        Settings settings,
        TimeProvider clock
    ) =>
        new(
            Title(locale),
            settings.Campaign.StartsAt,
            settings.Campaign.EndsAt,
            settings.Campaign.TimeZone.Id,
            IsOpen(settings.Campaign, clock.GetUtcNow()),
            await entrants.Current()
        );

    /// <summary>
    /// The landing page, copied for a few seconds per language (LandingCopies): under a crowd most
    /// visitors get the cached copy, so the count may be seconds old, and the page says so. With
    /// PostgreSQL down the page still answers, without the count.
    /// </summary>
    public static async Task<RazorComponentResult<LandingPage>> ShowLanding(
        HttpContext http,
        EntrantCount entrants,
        Settings settings,
        TimeProvider clock,
        ILogger<CampaignView> logger
    )
    {
        var locale = Language.Of(http);
        int? count;
        try
        {
            count = await entrants.Current();
        }
        catch (Exception e) when (ErrorResponses.IsBackingServiceFailure(e))
        {
            logger.LogWarning("landing page without the entrant count: {Error}", e.GetType().Name);
            count = null;
        }
        var campaign = new CampaignView(
            Title(locale),
            settings.Campaign.StartsAt,
            settings.Campaign.EndsAt,
            settings.Campaign.TimeZone.Id,
            IsOpen(settings.Campaign, clock.GetUtcNow()),
            count ?? 0
        );
        return Page.Show<LandingPage>(
            new
            {
                Locale = locale,
                Campaign = campaign,
                CountKnown = count is not null,
                Opens = settings.Campaign.StartsAt is { } start && clock.GetUtcNow() < start
                    ? CampaignText.Opens(start, settings.Campaign.TimeZone, locale)
                    : null,
                Zone = settings.Campaign.TimeZone,
            }
        );
    }

    /// <summary>The campaign as data; its count may be a few seconds old (<see cref="EntrantCount"/>).</summary>
    public static async Task<Ok<CampaignView>> Handle(
        HttpContext http,
        EntrantCount entrants,
        Settings settings,
        TimeProvider clock
    ) => TypedResults.Ok(await Load(Language.Of(http), entrants, settings, clock));
}
