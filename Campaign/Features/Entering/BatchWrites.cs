using Campaign.Features.SignIn;
using Campaign.Mail;
using Marten;

namespace Campaign.Features.Entering;

/// <summary>
/// The new documents of an entry batch, written with one INSERT per table for the whole batch
/// instead of one per document: fifty entries are three statements for PostgreSQL to parse, plan
/// and run, not 150. The rows come from arrays (<c>unnest</c>) and are the
/// rows Marten's own <c>Insert</c> writes: the document's JSON and .NET type, a fresh version, the
/// transaction's time, and the columns Marten copies out of the document
/// (<see cref="OutboxMessage.Configure"/>). The statements join the session's other writes, which
/// go with the COMMIT in one round trip (<see cref="Platform.OwnedTransaction"/>); a row that
/// PostgreSQL refuses (a taken address) fails its statement, and so its batch.
/// </summary>
public static class BatchWrites
{
    public static void Insert(IDocumentSession session, IReadOnlyList<Entrant> entrants) =>
        Insert(session, entrants, entrants.Select(e => e.Id).ToArray());

    /// <summary>
    /// A token's version is checked when it is used (<see cref="SignInToken.Configure"/>): each row
    /// gets a version of its own, as Marten gives it (the document has no version property).
    /// </summary>
    public static void Insert(IDocumentSession session, IReadOnlyList<SignInToken> tokens) =>
        Insert(session, tokens, tokens.Select(t => t.Id).ToArray());

    public static void Insert(IDocumentSession session, IReadOnlyList<OutboxMessage> mails) =>
        Insert(
            session,
            mails,
            mails.Select(m => m.Id).ToArray(),
            new("status", mails.Select(m => m.Status.ToString()).ToArray()),
            new("created_at", mails.Select(m => m.CreatedAt).ToArray()),
            new("claimed_until", mails.Select(m => m.ClaimedUntil).ToArray()),
            new("to_key", mails.Select(m => m.ToKey).ToArray()),
            new("entrant_id", mails.Select(m => m.EntrantId).ToArray())
        );

    /// <summary>
    /// A column that Marten copies out of each document (named as Marten names it), with each
    /// document's value. A column missing here would be left empty: the tests compare every column
    /// with the rows Marten writes.
    /// </summary>
    record Duplicated(string Column, Array Values);

    static void Insert<T>(
        IDocumentSession session,
        IReadOnlyList<T> documents,
        Array ids,
        params Duplicated[] duplicated
    )
    {
        if (documents.Count == 0)
            return;
        var options = session.DocumentStore.Options;
        var table = options.FindOrResolveDocumentType(typeof(T)).TableName.QualifiedName;
        var serializer = options.Serializer();
        var columns = string.Concat(duplicated.Select(d => $", {d.Column}"));
        var arrays = string.Concat(duplicated.Select(_ => ", ?"));
        // Marten's columns, in the order of its own INSERT; "?" is each parameter, in order.
        session.QueueSqlCommand(
            $"""
            insert into {table} (id, data, mt_version, mt_dotnet_type, mt_last_modified{columns})
            select v.id, v.data::jsonb, v.version, ?, transaction_timestamp(){columns}
              from unnest(?, ?, ?{arrays}) as v(id, data, version{columns})
            """,
            [
                typeof(T).FullName!,
                ids,
                documents.Select(d => serializer.ToJson(d)).ToArray(),
                documents.Select(_ => Guid.CreateVersion7()).ToArray(),
                .. duplicated.Select(d => d.Values),
            ]
        );
    }
}
