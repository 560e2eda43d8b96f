using Marten;
using Npgsql;

namespace Campaign.Mail;

/// <summary>
/// The outbox table as the relay uses it, in plain SQL on the duplicated columns
/// (<see cref="OutboxMessage.Configure"/>): a claim takes a lease on messages in one statement
/// (<c>for update skip locked</c>: two relays never take the same one), and the outcomes of a
/// batch are written back in one other. What is claimed when, and for how long, is the relay's.
/// </summary>
public sealed class OutboxTable(IDocumentStore store)
{
    /// <summary>
    /// Of the messages handed to the fast path, claims those still waiting whose lease, if any, ends
    /// before <paramref name="heldBefore"/>, and that no attempt has been made to send.
    /// </summary>
    public Task<IReadOnlyList<OutboxMessage>> ClaimUntried(
        Guid[] ids,
        DateTimeOffset heldBefore,
        DateTimeOffset until,
        CancellationToken cancellationToken
    ) =>
        Claim(
            "select id from {0} where id = any(?) and status = 'Pending' and (claimed_until is null or claimed_until < ?) and coalesce((data ->> 'attempts')::int, 0) = 0 for update skip locked",
            [ids, heldBefore],
            until,
            cancellationToken
        );

    /// <summary>
    /// Claims up to <paramref name="limit"/> messages written before <paramref name="writtenBefore"/>
    /// that no lease or wait holds at <paramref name="at"/>, oldest first.
    /// </summary>
    public Task<IReadOnlyList<OutboxMessage>> ClaimLeftOver(
        DateTimeOffset writtenBefore,
        DateTimeOffset at,
        int limit,
        DateTimeOffset until,
        CancellationToken cancellationToken
    ) =>
        Claim(
            "select id from {0} where status = 'Pending' and created_at < ? and (claimed_until is null or claimed_until < ?) order by created_at limit ? for update skip locked",
            [writtenBefore, at, limit],
            until,
            cancellationToken
        );

    /// <summary>
    /// Takes a lease <paramref name="until"/> on the messages <paramref name="which"/> selects (a
    /// query of their ids, with <c>{0}</c> for the table) in one statement: only the lease changes,
    /// and nothing else of the message is written back.
    /// </summary>
    async Task<IReadOnlyList<OutboxMessage>> Claim(
        string which,
        object[] parameters,
        DateTimeOffset until,
        CancellationToken cancellationToken
    )
    {
        var table = Table;
        await using var session = store.LightweightSession();
        var messages = await session.QueryAsync<OutboxMessage>(
            $$"""
            with claimed as (
              update {{table}} d
                 set claimed_until = ?, data = jsonb_set(d.data, '{claimedUntil}', to_jsonb(?::timestamptz))
                from ({{string.Format(which, table)}}) c
               where d.id = c.id
              returning d.data
            )
            select data from claimed
            """,
            cancellationToken,
            [until, until, .. parameters]
        );
        foreach (var message in messages)
            message.ClaimedUntil = until;
        return messages;
    }

    /// <summary>
    /// Writes the messages back, with their outcomes, in one statement. It only updates: a message
    /// deleted meanwhile (its entrant withdrew while it was being sent) stays deleted.
    /// </summary>
    public async Task RecordOutcomes(
        IReadOnlyList<OutboxMessage> messages,
        CancellationToken cancellationToken
    )
    {
        var serializer = store.Options.Serializer();
        await using var session = store.LightweightSession();
        // The duplicated columns that an outcome changes follow the document.
        await session.ExecuteAsync(
            new NpgsqlCommand(
                $"""
                update {Table} d
                   set data = v.data,
                       status = v.data ->> 'status',
                       claimed_until = (v.data ->> 'claimedUntil')::timestamptz,
                       mt_last_modified = now()
                  from unnest(@ids, @documents) as v(id, data)
                 where d.id = v.id
                """
            )
            {
                Parameters =
                {
                    new("ids", messages.Select(m => m.Id).ToArray()),
                    new(
                        "documents",
                        NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Jsonb
                    )
                    {
                        Value = messages.Select(serializer.ToJson).ToArray(),
                    },
                },
            },
            cancellationToken
        );
    }

    /// <summary>How much mail waits, and since when the oldest has (default when none does).</summary>
    public async Task<(int Waiting, DateTimeOffset Oldest)> Backlog(
        CancellationToken cancellationToken
    )
    {
        await using var query = store.QuerySession();
        var waiting = await query
            .Query<OutboxMessage>()
            .CountAsync(m => m.Status == OutboxStatus.Pending, cancellationToken);
        var oldest = await query
            .Query<OutboxMessage>()
            .Where(m => m.Status == OutboxStatus.Pending)
            .OrderBy(m => m.CreatedAt)
            .Select(m => m.CreatedAt)
            .FirstOrDefaultAsync(cancellationToken);
        return (waiting, oldest);
    }

    string Table => $"{store.Options.DatabaseSchemaName}.mt_doc_outboxmessage";
}
