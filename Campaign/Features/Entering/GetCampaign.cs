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

    /// <summary>
    /// The landing page, cached for a few seconds per language (Routes.cs): under a crowd most
    /// visitors get the cached copy, so the count may be seconds old, and the page says so. With
    /// PostgreSQL down the page still answers, without the count.
    /// </summary>
    public static async Task<RazorComponentResult<LandingPage>> ShowLanding(
        HttpContext http,
        IQuerySession session,
        Settings settings,
        TimeProvider clock,
        ILogger<CampaignView> logger,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        int? count;
        try
        {
            count = await session.Query<Entrant>().CountAsync(cancellationToken);
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

    public static async Task<Ok<CampaignView>> Handle(
        HttpContext http,
        IQuerySession session,
        Settings settings,
        TimeProvider clock,
        CancellationToken cancellationToken
    ) =>
        TypedResults.Ok(await Load(Language.Of(http), session, settings, clock, cancellationToken));
}
