using Microsoft.Playwright;

namespace Campaign.Tests.Pages;

/// <summary>A visitor's whole journey in a real browser, with axe-core checking every page.</summary>
[Collection(nameof(Browser))]
public sealed class VisitorJourneyTests(Browser browser) : IAsyncLifetime
{
    public Task InitializeAsync() => browser.App.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Landing_signup_mailbox_sign_in_me_sign_out()
    {
        var page = await browser.NewPage();

        await page.GotoAsync("/");
        Assert.Equal("ja", await page.GetAttributeAsync("html", "lang"));
        await page.AssertAccessible();
        await page.GetByRole(AriaRole.Link, new() { Name = "応募する" }).ClickAsync();

        await page.ShouldBeAt("/signup");
        await page.AssertAccessible();
        await page.GetByRole(AriaRole.Button, new() { Name = "応募する" }).ClickAsync();
        var summary = page.GetByRole(AriaRole.Alert);
        await Assertions.Expect(summary).ToContainTextAsync("メールアドレスを入力してください。");
        await page.AssertAccessible();

        await page.GetByLabel("メールアドレス").FillAsync("ｈａｎａｋｏ＠example.jp");
        await page.GetByLabel("表示名").FillAsync("山田 花子 🌸");
        await page.GetByLabel("利用規約とプライバシーポリシーに同意します").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "応募する" }).ClickAsync();
        await page.ShouldBeAt("/signup/sent");
        await Assertions
            .Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 }))
            .ToHaveTextAsync("メールをご確認ください");
        await page.AssertAccessible();

        var mail = await browser.App.SendGrid.WaitForMail("hanako@example.jp");
        await page.GotoAsync($"/sign-in#token={mail.Token}");
        await Assertions.Expect(page.GetByLabel("サインインコード")).ToHaveValueAsync(mail.Token);
        Assert.DoesNotContain("token", page.Url); // the script removed it from the address bar
        await page.AssertAccessible();
        await page.GetByRole(AriaRole.Button, new() { Name = "サインインする" }).ClickAsync();

        await page.ShouldBeAt("/me");
        await Assertions.Expect(page.GetByText("山田 花子 🌸")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByText("応募確定")).ToBeVisibleAsync();
        await page.AssertAccessible();
        await page.GetByRole(AriaRole.Button, new() { Name = "サインアウト" }).ClickAsync();

        await Assertions.Expect(page).ToHaveURLAsync(browser.BaseUrl + "/");
        await page.GotoAsync("/me");
        await Assertions
            .Expect(page.GetByRole(AriaRole.Button, new() { Name = "サインイン用のリンクを送る" }))
            .ToBeVisibleAsync();
        await page.AssertAccessible();
    }

    [Fact]
    public async Task The_language_switch_turns_the_pages_into_English_and_back()
    {
        var page = await browser.NewPage();
        await page.GotoAsync("/signup");

        await page.GetByRole(AriaRole.Link, new() { Name = "English" }).ClickAsync();

        await page.ShouldBeAt("/signup");
        Assert.Equal("en", await page.GetAttributeAsync("html", "lang"));
        await Assertions
            .Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 }))
            .ToHaveTextAsync("Enter the campaign");
        await page.AssertAccessible();
        await page.GetByRole(AriaRole.Link, new() { Name = "日本語" }).ClickAsync();
        await Assertions
            .Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 }))
            .ToHaveTextAsync("応募する");
    }

    [Fact]
    public async Task My_data_downloads_from_my_page_and_withdrawing_signs_out_and_deletes_the_entry()
    {
        var page = await browser.NewPage("en");
        await page.GotoAsync("/signup");
        await page.GetByLabel("E-mail address").FillAsync("jiro@example.jp");
        await page.GetByLabel("Display name").FillAsync("Jiro");
        await page.GetByLabel("I accept the terms and the privacy policy").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Enter" }).ClickAsync();
        var mail = await browser.App.SendGrid.WaitForMail("jiro@example.jp");
        await page.SignInWith(mail.Token);

        // The link a visitor clicks, and the file it gives this browser's session.
        var link = page.GetByRole(AriaRole.Link, new() { Name = "Download my data" });
        await Assertions.Expect(link).ToHaveAttributeAsync("href", "/api/v1/me/export");
        await Assertions.Expect(link).ToHaveAttributeAsync("download", "");
        var file = await page.APIRequest.GetAsync("/api/v1/me/export");
        Assert.Equal(200, file.Status);
        Assert.StartsWith(
            "attachment; filename=\"campaign-my-data-",
            file.Headers["content-disposition"]
        );
        var myData = System.Text.Json.JsonDocument.Parse(await file.TextAsync());
        Assert.Equal(
            "jiro@example.jp",
            myData.RootElement.GetProperty("entrant").GetProperty("email").GetString()
        );
        await page.GetByRole(AriaRole.Button, new() { Name = "Withdraw" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("Tick the box");
        await page.GetByLabel("Withdraw and delete everything").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Withdraw" }).ClickAsync();

        await Assertions
            .Expect(page.GetByRole(AriaRole.Heading, new() { Level = 1 }))
            .ToHaveTextAsync("You have withdrawn");
        await page.AssertAccessible();
        await page.GotoAsync("/me");
        await Assertions.Expect(page.GetByText("You are not signed in.")).ToBeVisibleAsync();
    }
}
