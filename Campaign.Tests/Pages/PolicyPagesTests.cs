using System.Net;
using Snapshooter;
using Snapshooter.Xunit;

namespace Campaign.Tests.Pages;

/// <summary>
/// The terms and the privacy policy, as people read them: their text is what an entrant consents
/// to, so every change shows up here for review (and should come with a new Terms.Version).
/// </summary>
[Collection(nameof(CampaignApp))]
public sealed class PolicyPagesTests(CampaignApp app)
{
    [Theory]
    [InlineData("/privacy", "ja")]
    [InlineData("/privacy", "en")]
    [InlineData("/terms", "ja")]
    [InlineData("/terms", "en")]
    public async Task The_policy_pages_say_what_the_app_does(string path, string language)
    {
        using var client = app.CreateClient();
        client.DefaultRequestHeaders.Add("Accept-Language", language);

        var response = await client.GetAsync(path);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        var main = html[
            html.IndexOf("<main", StringComparison.Ordinal)..(
                html.IndexOf("</main>", StringComparison.Ordinal) + "</main>".Length
            )
        ];
        Snapshot.Match(main, new SnapshotNameExtension(path.Trim('/'), language));
    }

    [Fact]
    public async Task The_entry_form_links_both_policies_and_leaves_campaign_mail_unticked()
    {
        using var client = app.CreateClient();

        var html = await client.GetStringAsync("/signup");

        Assert.Contains("<a href=\"/terms\">", html);
        Assert.Contains("<a href=\"/privacy\">", html);
        var campaignMail = html[html.IndexOf("id=\"campaignMail\"", StringComparison.Ordinal)..];
        Assert.DoesNotContain("checked", campaignMail[..campaignMail.IndexOf('>')]);
        var consent = html[html.IndexOf("id=\"consent\"", StringComparison.Ordinal)..];
        Assert.DoesNotContain("checked", consent[..consent.IndexOf('>')]);
    }
}
