using System.Net;
using Marten;
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
        // The stub has the mails; the relay records them as sent just after.
        await Eventually.Until(async () =>
        {
            await using var session = app.Store.QuerySession();
            return await session
                    .Query<Campaign.Mail.OutboxMessage>()
                    .CountAsync(m => m.Status == Campaign.Mail.OutboxStatus.Sent) == 2;
        });

        var before = app.Clock.GetUtcNow();
        var response = await client.GetAsync("/api/v1/me/export");
        var after = app.Clock.GetUtcNow();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.CacheControl?.NoStore);
        // Named by the app's date of the export (a run may cross midnight while it answers).
        Assert.Contains(
            response.Content.Headers.ContentDisposition?.ToString(),
            new[] { before, after }.Select(t =>
                $"attachment; filename=\"campaign-my-data-{t:yyyy-MM-dd}.json\""
            )
        );
        var body = JObject.Parse(await response.Content.ReadAsStringAsync());
        var text = body.ToString();
        Assert.DoesNotContain("other@example.jp", text);
        Assert.Equal(id, (Guid)body["entrant"]!["id"]!);
        Assert.Contains(key, (string)body["entrant"]!["photo"]!["url"]!);
        // The upload of the attached photo (used), then the one signed since (not used).
        Assert.NotEqual(JTokenType.Null, body["photoUploads"]![0]!["usedAt"]!.Type);
        Assert.Equal(signed, (string)body["photoUploads"]![1]!["key"]!);
        Assert.Equal(JTokenType.Null, body["photoUploads"]![1]!["usedAt"]!.Type);
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

    [Fact]
    public async Task Exporting_needs_a_session()
    {
        using var client = app.CreateClient();

        await (await client.GetAsync("/api/v1/me/export")).Problem(HttpStatusCode.Unauthorized);
    }
}
