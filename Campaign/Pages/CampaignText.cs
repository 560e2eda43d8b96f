using Campaign.Features;
using Campaign.Features.Entering;

namespace Campaign.Pages;

/// <summary>The campaign's period as people read it, in the campaign's time zone.</summary>
public static class CampaignText
{
    public static string Period(GetCampaign.CampaignView campaign, TimeZoneInfo zone, string locale)
    {
        string At(DateTimeOffset? time) => time is { } t ? Time(t, zone, locale) : "";
        return (campaign.StartsAt, campaign.EndsAt) switch
        {
            (null, null) => Language.Say(locale, "期間の定めなし", "No fixed period"),
            _ => $"{At(campaign.StartsAt)} 〜 {At(campaign.EndsAt)}（{ZoneName(zone, locale)}）",
        };
    }

    /// <summary>When entries open, for a visitor who comes before: "2026年12月4日 10:00（日本時間）".</summary>
    public static string Opens(DateTimeOffset startsAt, TimeZoneInfo zone, string locale) =>
        Language.Say(
            locale,
            $"{Time(startsAt, zone, locale)}（{ZoneName(zone, locale)}）",
            $"{Time(startsAt, zone, locale)} ({ZoneName(zone, locale)})"
        );

    static string Time(DateTimeOffset time, TimeZoneInfo zone, string locale) =>
        TimeZoneInfo
            .ConvertTime(time, zone)
            .ToString(
                locale == Language.English ? "MMM d, yyyy HH:mm" : "yyyy年M月d日 HH:mm",
                System.Globalization.CultureInfo.InvariantCulture
            );

    static string ZoneName(TimeZoneInfo zone, string locale) =>
        zone.Id == "Asia/Tokyo" ? Language.Say(locale, "日本時間", "Japan time") : zone.Id;
}
