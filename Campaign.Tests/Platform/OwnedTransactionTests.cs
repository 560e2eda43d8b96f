using Campaign.Features.Entering;
using Campaign.Platform;
using Marten;

namespace Campaign.Tests.Platform;

/// <summary>The COMMIT travels with the writes, and a failing write still commits nothing.</summary>
[Collection(nameof(CampaignApp))]
public sealed class OwnedTransactionTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    Task<OwnedTransaction> Begin() => OwnedTransaction.BeginAsync(app.Store, default);

    static Entrant NewEntrant(string email) =>
        Entrant.Enter(new EntryInput(email, "応募者", "ja", false), TestClock.RealNow);

    async Task<List<string>> Emails()
    {
        await using var query = app.Store.QuerySession();
        return [.. (await query.Query<Entrant>().ToListAsync()).Select(e => e.Email).Order()];
    }

    [Fact]
    public async Task Its_writes_are_committed_and_the_connection_is_fit_for_the_next_user()
    {
        await using (var transaction = await Begin())
        {
            transaction.Session.Insert(NewEntrant("a@example.jp"));
            transaction.Session.Insert(NewEntrant("b@example.jp"));
            await transaction.CommitAsync();
        }
        Assert.Equal(new[] { "a@example.jp", "b@example.jp" }, await Emails());

        // The pool hands out connections again and again: each must start outside a transaction.
        for (var i = 0; i < 3; i++)
            await using (var transaction = await Begin())
            {
                transaction.Session.Insert(NewEntrant($"c{i}@example.jp"));
                await transaction.CommitAsync();
            }
        Assert.Equal(5, (await Emails()).Count);
    }

    [Fact]
    public async Task A_write_that_fails_leaves_none_of_the_others_committed()
    {
        await using (var session = app.Session())
        {
            session.Insert(NewEntrant("taken@example.jp"));
            await session.SaveChangesAsync();
        }

        await using (var transaction = await Begin())
        {
            transaction.Session.Insert(NewEntrant("first@example.jp"));
            // The unique index on the lower-cased address refuses this one, after the first insert.
            transaction.Session.Insert(NewEntrant("TAKEN@example.jp"));
            transaction.Session.Insert(NewEntrant("last@example.jp"));
            await Assert.ThrowsAnyAsync<Exception>(transaction.CommitAsync);
        }

        Assert.Equal(new[] { "taken@example.jp" }, await Emails());
    }

    [Fact]
    public async Task Disposing_without_committing_rolls_back()
    {
        await using (var transaction = await Begin())
        {
            transaction.Session.Insert(NewEntrant("gone@example.jp"));
            // Written but not committed: the statement runs, the transaction stays open.
            await transaction.Session.SaveChangesAsync();
        }
        Assert.Empty(await Emails());
    }
}
