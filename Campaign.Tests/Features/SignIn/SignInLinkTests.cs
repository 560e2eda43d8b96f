using System.Diagnostics;
using System.Net;
using Campaign.Features.Entering;
using Campaign.Mail;
using Marten;

namespace Campaign.Tests.Features.SignIn;

/// <summary>
/// "Send me a new link" answers before its work, so its answer takes as long for an address that
/// entered as for one that did not, whatever the database costs.
/// </summary>
[Collection(nameof(CampaignApp))]
public sealed class SignInLinkTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_known_and_an_unknown_address_are_answered_before_the_database_is_asked()
    {
        await using (var session = app.Session())
        {
            session.Insert(
                Entrant.Enter(
                    new EntryInput("known@example.jp", "既知 太郎", "ja", false),
                    app.Clock.GetUtcNow()
                )
            );
            await session.SaveChangesAsync();
        }
        await using var database = new FaultProxy(TestServices.DatabaseUrl);
        await using var slowDatabase = CampaignApp.With(
            new() { ["DATABASE_SCHEMA"] = app.Schema, ["DATABASE_URL"] = database.Url }
        );
        using var client = slowDatabase.CreateClient(
            new()
            {
                AllowAutoRedirect = false,
                BaseAddress = slowDatabase.ClientOptions.BaseAddress,
            }
        );
        var formToken = Visitor.FormTokenIn(
            await (await client.GetAsync("/me")).Content.ReadAsStringAsync()
        );
        async Task<(HttpStatusCode Status, TimeSpan Took)> AskForLink(string email)
        {
            var watch = Stopwatch.StartNew();
            var answer = await client.PostAsync(
                "/sign-in/link",
                new FormUrlEncodedContent([
                    new("Email", email),
                    new("__RequestVerificationToken", formToken),
                ])
            );
            return (answer.StatusCode, watch.Elapsed);
        }

        // Each exchange with PostgreSQL now waits 2 s each way: a request that asked it would
        // take several seconds.
        database.Slow(TimeSpan.FromSeconds(2));
        var unknown = await AskForLink("unknown@example.jp");
        var known = await AskForLink("known@example.jp");
        database.Pass();

        Assert.Equal(HttpStatusCode.SeeOther, unknown.Status);
        Assert.Equal(HttpStatusCode.SeeOther, known.Status);
        Assert.True(unknown.Took < TimeSpan.FromSeconds(1.5), $"unknown took {unknown.Took}");
        Assert.True(known.Took < TimeSpan.FromSeconds(1.5), $"known took {known.Took}");
        // The work was done after the answer: the known address has its link, the unknown none.
        await slowDatabase.SendGrid.WaitForMail(
            "known@example.jp",
            timeout: TimeSpan.FromSeconds(60)
        );
        await using var query = app.Store.QuerySession();
        var mail = await query.Query<OutboxMessage>().ToListAsync();
        Assert.Equal(["known@example.jp"], mail.Select(m => m.To));
        Assert.Empty(slowDatabase.SendGrid.MailsTo("unknown@example.jp"));
    }
}
