using System.Net;

namespace Campaign.Tests.Features;

/// <summary>The language switch goes back to a page of this site, and only there.</summary>
[Collection(nameof(CampaignApp))]
public sealed class SwitchLanguageTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Theory]
    [InlineData("/signup", "/signup")]
    [InlineData("/", "/")]
    // Elsewhere (a protocol-relative or backslash address), or a control character that browsers
    // strip (/%09/x becomes //x): back to the landing page.
    [InlineData("//evil.example/", "/")]
    [InlineData("/%5Cevil.example/", "/")]
    [InlineData("/%09/evil.example", "/")]
    [InlineData("/%0D%0ALocation:%20x", "/")]
    [InlineData("https://evil.example/", "/")]
    public async Task The_switch_redirects_to_a_local_page_or_to_the_landing_page(
        string returnTo,
        string location
    )
    {
        using var client = app.CreateClient(
            new() { AllowAutoRedirect = false, BaseAddress = app.ClientOptions.BaseAddress }
        );

        var response = await client.GetAsync($"/lang/en?return={returnTo}");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(location, response.Headers.Location?.OriginalString);
        Assert.Contains("lang=en", response.Headers.GetValues("Set-Cookie").Single());
    }
}
