using Microsoft.Playwright;

namespace Campaign.Tests.Pages;

/// <summary>The operators' dashboard in Chromium: signed in with a mailed link, charts drawn, refreshed, accessible.</summary>
[Collection(nameof(Browser))]
public sealed class OpsPageTests(Browser browser) : IAsyncLifetime
{
    public Task InitializeAsync() => browser.App.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task An_operator_signs_in_sees_the_charts_refreshed_and_the_page_is_accessible()
    {
        var page = await browser.NewPage();
        await page.GotoAsync("/me");
        await page.GetByLabel("メールアドレス").FillAsync(Browser.OperatorEmail);
        await page.Locator("form[action='/sign-in/link'] button[type=submit]").ClickAsync();
        var mail = await browser.App.SendGrid.WaitForMail(Browser.OperatorEmail);

        await page.SignInWith(mail.Token, landsOn: "/ops");

        await Assertions
            .Expect(page.GetByRole(AriaRole.Heading, new() { Name = "運営ダッシュボード" }))
            .ToBeVisibleAsync();
        Assert.Equal(3, await page.Locator("#ops-charts svg[role=img]").CountAsync());
        await Assertions
            .Expect(
                page.GetByRole(
                    AriaRole.Img,
                    new() { Name = "1 時間ごとの応募：確定済みとまだのもの（直近 72 時間）" }
                )
            )
            .ToBeVisibleAsync();
        await page.AssertAccessible();

        // Paused, then resumed: the charts are fetched again and replace the ones drawn before.
        await page.EvaluateAsync(
            "() => document.getElementById('ops-updated').dataset.old = 'yes'"
        );
        await page.GetByRole(AriaRole.Button, new() { Name = "更新を止める" }).ClickAsync();
        await Assertions
            .Expect(page.Locator("#ops-pause"))
            .ToHaveAttributeAsync("aria-pressed", "true");
        await page.GetByRole(AriaRole.Button, new() { Name = "更新を再開する" }).ClickAsync();
        await Assertions.Expect(page.Locator("#ops-updated:not([data-old])")).ToBeVisibleAsync();
        Assert.Equal(3, await page.Locator("#ops-charts svg[role=img]").CountAsync());
        await page.AssertAccessible();
    }
}
