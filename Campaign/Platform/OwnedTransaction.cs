using Marten;
using Marten.Storage;
using Npgsql;
using SessionOptions = Marten.Services.SessionOptions;

namespace Campaign.Platform;

/// <summary>
/// A Marten session in a transaction that the app opens and ends itself, so that the COMMIT goes
/// to PostgreSQL in the same round trip as the writes. Marten's own <c>SaveChangesAsync</c> sends
/// the writes, waits for them, then sends COMMIT alone: one round trip more for each entry, the
/// busiest write of a campaign. Npgsql sends BEGIN together with the first statement, so an entry
/// makes two round trips: the lock with the read, then the writes with the COMMIT.
/// </summary>
/// <remarks>
/// Atomic all the same: PostgreSQL skips the rest of a batch after a failing statement, the COMMIT
/// with it, and disposing rolls the transaction back. What runs after the COMMIT is Marten's own
/// checking of the answers (an insert whose id exists, a version that moved), so this is for
/// writes that cannot fail that check: inserts of new ids and deletes. Anything else keeps using
/// an ordinary session.
/// </remarks>
public sealed class OwnedTransaction : IAsyncDisposable
{
    readonly NpgsqlConnection connection;
    readonly NpgsqlTransaction transaction;

    OwnedTransaction(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        IDocumentSession session
    )
    {
        this.connection = connection;
        this.transaction = transaction;
        Session = session;
    }

    public IDocumentSession Session { get; }

    /// <summary>Opens a connection from the store's own pool and begins the transaction.</summary>
    public static async Task<OwnedTransaction> BeginAsync(
        IDocumentStore store,
        CancellationToken cancellationToken
    )
    {
        var connection = store.Storage.Database.CreateConnection(ConnectionUsage.ReadWrite);
        try
        {
            await connection.OpenAsync(cancellationToken);
            var transaction = await connection.BeginTransactionAsync(cancellationToken);
            // shouldAutoCommit: false: SaveChangesAsync sends the writes and leaves the end to us.
            var session = store.LightweightSession(
                SessionOptions.ForTransaction(transaction, shouldAutoCommit: false)
            );
            return new OwnedTransaction(connection, transaction, session);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends the session's writes and then COMMIT, in one batch. Not cancellable: a commit whose
    /// answer is cut off leaves the caller not knowing whether it happened (the command timeout
    /// bounds it).
    /// </summary>
    public async Task CommitAsync()
    {
        Session.QueueSqlCommand("commit");
        await Session.SaveChangesAsync(CancellationToken.None);
    }

    /// <summary>Rolls back whatever was not committed, and hands the connection back to the pool.</summary>
    public async ValueTask DisposeAsync()
    {
        await Session.DisposeAsync();
        await transaction.DisposeAsync();
        await connection.DisposeAsync();
    }
}
