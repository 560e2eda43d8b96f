using System.Net;

namespace Campaign.Tests.Mail;

[Collection(nameof(CampaignApp))]
public sealed class DevMailboxTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task In_Development_without_a_SendGrid_key_mail_arrives_in_the_local_mailbox()
    {
        await using var development = CampaignApp.With(
            new()
            {
                ["environment"] = "Development",
                ["SENDGRID_API_KEY"] = "",
                ["DATABASE_SCHEMA"] = app.Schema,
            }
        );
        using var client = development.CreateClient();

        await client.Enter("dev@example.jp");

        string page = "";
        for (var i = 0; i < 100 && !page.Contains("dev@example.jp"); i++)
        {
            await Task.Delay(100);
            page = await client.GetStringAsync("/dev/mail");
        }
        Assert.Contains("dev@example.jp", page);
        Assert.Contains("/sign-in#token=", page);
        Assert.Empty(development.SendGrid.Requests);
    }

    [Fact]
    public async Task Outside_Development_there_is_no_mailbox_page()
    {
        using var client = app.CreateClient();

        var response = await client.GetAsync("/dev/mail");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
