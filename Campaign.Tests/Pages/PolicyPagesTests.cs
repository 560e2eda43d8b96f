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
}
