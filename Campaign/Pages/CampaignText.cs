using Campaign.Features;
using Campaign.Features.Entering;

namespace Campaign.Pages;

/// <summary>The campaign's period as people read it, in the campaign's time zone.</summary>
public static class CampaignText
{
    public static string Period(GetCampaign.CampaignView campaign, TimeZoneInfo zone, string locale)
    {
        string At(DateTimeOffset? time) =>
            time is { } t
                ? TimeZoneInfo
                    .ConvertTime(t, zone)
                    .ToString(
                        locale == Language.English ? "MMM d, yyyy HH:mm" : "yyyy年M月d日 HH:mm"
                    )
                : "";
        var zoneName =
            zone.Id == "Asia/Tokyo" ? Language.Say(locale, "日本時間", "Japan time") : zone.Id;
        return (campaign.StartsAt, campaign.EndsAt) switch
        {
            (null, null) => Language.Say(locale, "期間の定めなし", "No fixed period"),
            _ => $"{At(campaign.StartsAt)} 〜 {At(campaign.EndsAt)}（{zoneName}）",
        };
    }
}
