using System.Net;
using Newtonsoft.Json.Linq;
using Snapshooter.Xunit;

namespace Campaign.Tests.Features.Me;

[Collection(nameof(CampaignApp))]
public sealed class ExportMyDataTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task An_entrant_downloads_everything_held_about_them_and_nothing_about_anyone_else()
    {
        var (client, id) = await app.SignedIn("mine@example.jp");
        var (other, _) = await app.SignedIn("other@example.jp");
        var key = await Photos.PhotoTests.AddPhoto(client);
        await Photos.PhotoTests.AddPhoto(other);
        var signed = (string)(await Photos.PhotoTests.Sign(client))["key"]!; // not uploaded yet
        await client.Enter("mine@example.jp"); // a sign-in link mailed: a link and a mail record
        await other.Enter("other@example.jp");
        await app.SendGrid.WaitForMail("mine@example.jp");
        await app.SendGrid.WaitForMail("other@example.jp");
        await Sent(2);

        var response = await client.GetAsync("/api/v1/me/export");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.CacheControl?.NoStore);
        Assert.Equal(
            $"attachment; filename=\"campaign-my-data-{DateTime.UtcNow:yyyy-MM-dd}.json\"",
            response.Content.Headers.ContentDisposition?.ToString()
        );
        var body = JObject.Parse(await response.Content.ReadAsStringAsync());
        var text = body.ToString();
        Assert.DoesNotContain("other@example.jp", text);
        Assert.Equal(id, (Guid)body["entrant"]!["id"]!);
        Assert.Contains(key, (string)body["entrant"]!["photo"]!["url"]!);
        Assert.Equal(signed, (string)body["photoUploads"]![0]!["key"]!);
        foreach (
            var volatileField in body.Descendants()
                .OfType<JProperty>()
                .Where(p =>
                    p.Name
                        is "exportedAt"
                            or "id"
                            or "enteredAt"
                            or "confirmedAt"
                            or "acceptedAt"
                            or "url"
                            or "attachedAt"
                            or "key"
                            or "signedAt"
                            or "expiresAt"
                            or "usedAt"
                            or "createdAt"
                            or "sentAt"
                    && p.Value.Type != JTokenType.Null
                )
                .ToList()
        )
            volatileField.Value = "(varies)";
        Snapshot.Match(body);
    }

    /// <summary>The stub has the mails; wait until the relay has recorded them as sent.</summary>
    async Task Sent(int count)
    {
        for (var i = 0; i < 100; i++)
        {
            await using var session = app.Store.QuerySession();
            if (
                await Marten.QueryableExtensions.CountAsync(
                    session.Query<Campaign.Mail.OutboxMessage>(),
                    m => m.Status == Campaign.Mail.OutboxStatus.Sent
                ) == count
            )
                return;
            await Task.Delay(50);
        }
        Assert.Fail($"{count} mails were not recorded as sent");
    }

    [Fact]
    public async Task Exporting_needs_a_session()
    {
        using var client = app.CreateClient();

        await (await client.GetAsync("/api/v1/me/export")).Problem(HttpStatusCode.Unauthorized);
    }
}
