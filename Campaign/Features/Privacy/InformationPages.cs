using Campaign.Pages;
using Campaign.Platform;

namespace Campaign.Features.Privacy;

/// <summary>
/// The terms and the privacy policy (<c>/terms</c>, <c>/privacy</c>). Both carry
/// <see cref="Entering.Terms.Version"/>, which an entrant's consent records; the periods and the
/// sender they name come from the settings, so the page says what the app does.
/// </summary>
public static class InformationPages
{
    public static IResult Terms(HttpContext http) =>
        Page.Show<TermsPage>(new { Locale = Language.Of(http) });

    public static IResult Privacy(HttpContext http, Settings settings) =>
        Page.Show<PrivacyPage>(
            new
            {
                Locale = Language.Of(http),
                Sender = settings.Mail.From,
                settings.Mail.SenderPostalAddress,
                PendingDays = (int)settings.Retention.Pending.TotalDays,
                RetentionDays = (int)settings.Retention.AfterCampaign.TotalDays,
                PurgeOn = PurgeExpiredData.CampaignPurgeAt(settings) is { } at
                    ? DateOnly.FromDateTime(
                        TimeZoneInfo.ConvertTime(at, settings.Campaign.TimeZone).DateTime
                    )
                    : (DateOnly?)null,
                PhotoRegion = settings.S3.Region,
            }
        );
}
