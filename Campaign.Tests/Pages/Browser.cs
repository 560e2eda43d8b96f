using System.Text.RegularExpressions;
using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;

namespace Campaign.Tests.Pages;

/// <summary>
/// Chromium driven by Playwright, against the app on Kestrel and a real port. Playwright's own
/// browser download is never used: the tests launch <see cref="Executable"/>, Debian's
/// /usr/bin/chromium locally (bin/test installs it), Chrome for Testing on Heroku CI (its buildpack
/// puts <c>chrome</c> on PATH).
/// </summary>
public sealed class Browser : IAsyncLifetime
{
    IPlaywright? playwright;
    IBrowser? browser;

    /// <summary>
    /// As on Heroku: TLS ends at a proxy that says so in X-Forwarded-Proto (sent by every page
    /// below), so the app sets Secure cookies, which Chromium keeps for localhost.
    /// </summary>
    public CampaignApp App { get; } =
        CampaignApp.OnKestrel(
            new() { ["TRUST_FORWARDED_HEADERS"] = "true", ["OPERATOR_EMAILS"] = OperatorEmail }
        );

    /// <summary>The operator of the browser tests' app (the dashboard's tests sign in as them).</summary>
    public const string OperatorEmail = "ops.lead@example.jp";

    /// <summary>The app's address as a browser reaches it.</summary>
    public string BaseUrl =>
        App.ClientOptions.BaseAddress.ToString().TrimEnd('/').Replace("127.0.0.1", "localhost");

    public async Task InitializeAsync()
    {
        // Expectations wait up to 15 s, not 5: a full test run keeps both cores busy.
        Assertions.SetDefaultExpectTimeout(15_000);
        await App.InitializeAsync();
        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(
            new BrowserTypeLaunchOptions
            {
                ExecutablePath = Executable(),
                Headless = true,
                Args =
                [
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                ],
            }
        );
    }

    /// <summary>
    /// CAMPAIGN_BROWSER when it is set, else the first of chromium, chrome, google-chrome on PATH;
    /// without one the browser tests fail with one line that says so (never a skip).
    /// </summary>
    public static string Executable()
    {
        if (Environment.GetEnvironmentVariable("CAMPAIGN_BROWSER") is { Length: > 0 } chosen)
            return File.Exists(chosen)
                ? chosen
                : throw new InvalidOperationException(
                    $"CAMPAIGN_BROWSER names {chosen}, which does not exist"
                );
        string[] names = ["chromium", "chrome", "google-chrome"];
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':');
        return names
                .SelectMany(name => path.Select(dir => Path.Combine(dir, name)))
                .FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                "no browser for the browser tests: none of chromium, chrome, google-chrome is on PATH and CAMPAIGN_BROWSER is not set (bin/test installs Debian's chromium; on Heroku CI the chrome-for-testing buildpack adds chrome)"
            );
    }

    public async Task<IPage> NewPage(string? acceptLanguage = "ja")
    {
        var context = await browser!.NewContextAsync(
            new BrowserNewContextOptions
            {
                Locale = acceptLanguage,
                BaseURL = BaseUrl,
                ExtraHTTPHeaders = new Dictionary<string, string>
                {
                    ["X-Forwarded-Proto"] = "https",
                },
            }
        );
        return await context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        if (browser is not null)
            await browser.CloseAsync();
        playwright?.Dispose();
        await ((IAsyncLifetime)App).DisposeAsync();
    }
}

[CollectionDefinition(nameof(Browser))]
public sealed class BrowserCollection : ICollectionFixture<Browser>;

public static class Navigation
{
    /// <summary>
    /// Waits until the page's address ends with the path. Not <c>WaitForURLAsync</c>: once the
    /// address matches, that also waits for the page's load event, and twice in full test runs it
    /// waited 30 s at an address that already matched.
    /// </summary>
    public static Task ShouldBeAt(this IPage page, string path) =>
        Assertions.Expect(page).ToHaveURLAsync(new Regex(Regex.Escape(path) + "$"));

    /// <summary>
    /// Opens a mail's sign-in link, presses the button once the page's script has filled the code
    /// in, and waits for <c>/me</c>; if it does not come, the failure says what the page shows.
    /// </summary>
    public static async Task SignInWith(this IPage page, string token, string landsOn = "/me")
    {
        await page.GotoAsync($"/sign-in#token={token}");
        await Assertions.Expect(page.Locator("#token")).ToHaveValueAsync(token);
        await page.Locator("#sign-in-button").ClickAsync();
        try
        {
            await page.ShouldBeAt(landsOn);
        }
        catch (PlaywrightException e)
        {
            Assert.Fail(
                $"{e.Message.Split('\n')[0]}; the page shows: {await page.InnerTextAsync("main")}"
            );
        }
    }
}

public static class Accessibility
{
    /// <summary>Runs axe-core on the page and fails on any serious or critical violation.</summary>
    public static async Task AssertAccessible(this IPage page)
    {
        var result = await page.RunAxe();
        var serious = result
            .Violations.Where(v => v.Impact is "serious" or "critical")
            .Select(v =>
                $"{v.Id} ({v.Impact}): {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Target?.ToString()))}"
            )
            .ToList();
        Assert.True(serious.Count == 0, $"{page.Url}:\n" + string.Join("\n", serious));
    }
}
