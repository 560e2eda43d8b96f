using System.Net;
using Campaign.Features.Backup;
using Campaign.Features.Entering;
using Campaign.Mail;
using Marten;

namespace Campaign.Tests.Features.Me;

[Collection(nameof(CampaignApp))]
public sealed class WithdrawTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Withdrawing_deletes_the_entrant_their_mail_and_their_sessions_on_every_device()
    {
        using var phone = app.CreateClient();
        using var laptop = app.CreateClient();
        await phone.Enter("taro@example.jp");
        await phone.SignIn((await app.SendGrid.WaitForMail("taro@example.jp")).Token);
        await phone.Enter("taro@example.jp");
        await laptop.SignIn((await app.SendGrid.WaitForMail("taro@example.jp", 2)).Token);
        Assert.Equal(HttpStatusCode.OK, (await laptop.GetAsync("/api/v1/me")).StatusCode);

        var withdraw = await phone.DeleteAsync("/api/v1/me");

        Assert.Equal(HttpStatusCode.NoContent, withdraw.StatusCode);
        await (await laptop.GetAsync("/api/v1/me")).Problem(HttpStatusCode.Unauthorized);
        await (await phone.GetAsync("/api/v1/me")).Problem(HttpStatusCode.Unauthorized);
        await using var session = app.Store.QuerySession();
        Assert.Equal(0, await session.Query<Entrant>().CountAsync());
        Assert.Equal(0, await session.Query<OutboxMessage>().CountAsync());
    }

    [Fact]
    public async Task Entering_again_after_withdrawing_clears_the_withdrawal_and_no_one_else_s()
    {
        using var client = app.CreateClient();
        await client.Enter("taro@example.jp");
        await client.SignIn((await app.SendGrid.WaitForMail("taro@example.jp")).Token);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync("/api/v1/me")).StatusCode);
        await using (var other = app.Store.LightweightSession())
        {
            other.Store(
                new Withdrawal
                {
                    Id = Withdrawal.IdOf("hanako@example.jp"),
                    WithdrawnAt = app.Clock.GetUtcNow(),
                }
            );
            await other.SaveChangesAsync();
        }

        await client.Enter("Taro@Example.jp");

        await using var session = app.Store.QuerySession();
        var left = await session.Query<Withdrawal>().ToListAsync();
        Assert.Equal([Withdrawal.IdOf("hanako@example.jp")], left.Select(w => w.Id));
        Assert.Equal(1, await session.Query<Entrant>().CountAsync());
    }

    [Fact]
    public async Task Withdrawing_leaves_no_trace_in_PostgreSQL_Redis_or_S3()
    {
        var (phone, id) = await app.SignedIn("trace@example.jp");
        await Photos.PhotoTests.AddPhoto(phone);
        await Photos.PhotoTests.Upload(await Photos.PhotoTests.Sign(phone), Photos.Images.Png);
        await phone.Enter("trace@example.jp"); // a sign-in link: a token and a mail record
        await app.SendGrid.WaitForMail("trace@example.jp");
        var before = await Traces.Of(app, id, "trace@example.jp");

        Assert.Equal(HttpStatusCode.NoContent, (await phone.DeleteAsync("/api/v1/me")).StatusCode);

        Assert.Equal(
            [
                "PostgreSQL mt_doc_entrant",
                "PostgreSQL mt_doc_outboxmessage",
                "PostgreSQL mt_doc_photoupload",
                "PostgreSQL mt_doc_signintoken",
                "Redis session",
                "Redis sessions-of",
                "S3",
            ],
            before
                .Select(t => t.StartsWith("S3") ? "S3" : string.Join(' ', t.Split([' ', ':'])[..2]))
                .Distinct()
                .Order()
        );
        // Until no signature issued to them can bring an object back, the prefix to delete is on
        // record; the clock's photo sweep after that leaves nothing.
        Assert.Equal(
            ["PostgreSQL mt_doc_photoerasure"],
            await Traces.Of(app, id, "trace@example.jp")
        );
        await app.SweepPhotosAfterTheLastSignature();
        Assert.Empty(await Traces.Of(app, id, "trace@example.jp"));
    }

    [Fact]
    public async Task Withdrawing_needs_a_session()
    {
        using var client = app.CreateClient();

        var response = await client.DeleteAsync("/api/v1/me");

        await response.Problem(HttpStatusCode.Unauthorized);
    }
}
