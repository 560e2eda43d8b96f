using Campaign.Mail;
using Campaign.Platform;
using Marten;

namespace Campaign.Features.Entering;

/// <summary>
/// The lock that every write about an address takes first, defined here once: on its mailbox
/// (<see cref="Mailbox.Key"/>), so that variants of one inbox queue up together. Under it the
/// address's entrant, its mailbox's recent mails and its withdrawal are read; requests for one
/// mailbox wait for each other at the lock, so a count and an insert after it are exact, and one
/// address is one entrant whichever dyno writes it.
/// </summary>
public static class AddressLock
{
    /// <summary>At most this many sign-in mails per mailbox per window, however many requests come.</summary>
    public const int MailsPerWindow = 3;
    public static readonly TimeSpan MailWindow = TimeSpan.FromMinutes(15);

    /// <summary>
    /// What an address has, read under the lock of its mailbox: its entrant (if any), the mails its
    /// mailbox had in the window (whichever variant of the address they went to), and whether a
    /// withdrawal is on record for it (an entrant who left and comes back).
    /// </summary>
    public sealed record Address(Entrant? Entrant, long RecentMails, bool Withdrawn);

    /// <summary>
    /// Takes the locks of every address's mailbox until the transaction ends (an
    /// <see cref="OwnedTransaction"/>), then reads what each address has: one statement, sent with
    /// BEGIN in one round trip, whatever the number of addresses. The answer is in the order of
    /// <paramref name="emails"/>, one per address, repeats included.
    /// </summary>
    public static async Task<IReadOnlyList<Address>> TakeAsync(
        IDocumentSession session,
        IReadOnlyList<string> emails,
        DateTimeOffset now,
        CancellationToken cancellationToken
    )
    {
        var read = await session.QueryAsync<Address>(
            $"select {session.DocumentStore.Options.DatabaseSchemaName}.{FunctionName}(?, ?, ?, ?)",
            cancellationToken,
            emails.Select(Mailbox.Key).ToArray(),
            emails.Select(Mailbox.AddressKey).ToArray(),
            now - MailWindow,
            emails.Select(Backup.Withdrawal.IdOf).ToArray()
        );
        return read.Count == emails.Count
            ? read
            : throw new InvalidOperationException(
                $"{FunctionName} answered {read.Count} rows for {emails.Count} addresses"
            );
    }

    const string FunctionName = "campaign_lock_mailboxes";

    /// <summary>
    /// The locks and the reads in one function, created with the schema (<c>db-apply</c>).
    /// <list type="bullet">
    /// <item>The locks are taken one by one in the order of their keys, each key once: two
    /// transactions that want overlapping sets (two batches, on two dynos) take their common locks
    /// in the same order, so neither can hold one that the other holds and wait for the next: no
    /// deadlock. Keys are ordered by the lock key itself, so two mailboxes whose keys collide are
    /// one lock, not a second wait for the same one.</item>
    /// <item>The locks and the reads are separate statements: in READ COMMITTED a statement sees
    /// the database as it was when it began, so a read in the statement that waited for a lock would
    /// miss what the lock's previous holder committed meanwhile. Each statement of a PL/pgSQL
    /// function (volatile, the default) sees the database anew.</item>
    /// <item><c>lower(data ->> 'email')</c> is the expression of the entrants' unique index.</item>
    /// </list>
    /// Written as PostgreSQL prints it back (<c>pg_get_functiondef</c>), so that <c>db-assert</c>
    /// finds it unchanged after <c>db-apply</c>.
    /// </summary>
    static string Function(string schema) =>
        $$"""
            CREATE OR REPLACE FUNCTION {{schema}}.{{FunctionName}}(mailboxes text[], addresses text[], since timestamp with time zone, withdrawals character varying[])
             RETURNS SETOF jsonb
             LANGUAGE plpgsql
            AS $function$
            declare
              key bigint;
            begin
              -- Advisory locks belong to the whole database: the schema is part of the key.
              for key in select distinct hashtextextended('mailbox:{{schema}}:' || m, 0) from unnest(mailboxes) m order by 1 loop
                perform pg_advisory_xact_lock(key);
              end loop;
              return query
                select jsonb_build_object(
                  'entrant', (select d.data from {{schema}}.mt_doc_entrant d where lower(d.data ->> 'email') = a.address),
                  'recentMails', (select count(*) from {{schema}}.mt_doc_outboxmessage o where o.to_key = a.mailbox and o.created_at > since),
                  'withdrawn', exists (select 1 from {{schema}}.mt_doc_withdrawal w where w.id = a.withdrawal))
                from unnest(mailboxes, addresses, withdrawals) with ordinality a(mailbox, address, withdrawal, i)
                order by a.i;
            end;
            $function$;
            """;

    /// <summary>Adds <see cref="Function"/> to the schema that Marten creates and migrates.</summary>
    public static void Configure(StoreOptions options) =>
        options.Storage.ExtendedSchemaObjects.Add(
            Weasel.Postgresql.Functions.Function.ForSql(Function(options.DatabaseSchemaName))
        );
}
