using System.Net;
using Campaign.Features.Entering;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Campaign.Platform;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Campaign.Tests.Features.Entering;

/// <summary>
/// A batch's documents, written one statement per table, are the rows Marten writes for the same
/// documents, and Marten reads, updates and guards them as its own.
/// </summary>
[Collection(nameof(CampaignApp))]
public sealed class BatchWritesTests(CampaignApp app) : IAsyncLifetime
{
    readonly NpgsqlDataSource db = NpgsqlDataSource.Create(
        DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
    );

    public Task InitializeAsync() => app.ResetAsync();

    public async Task DisposeAsync() => await db.DisposeAsync();

    static readonly string[] Tables =
    [
        "mt_doc_entrant",
        "mt_doc_signintoken",
        "mt_doc_outboxmessage",
    ];

    sealed record Documents(
        List<Entrant> Entrants,
        List<SignInToken> Tokens,
        List<OutboxMessage> Mails
    );

    /// <summary>Entries as a batch makes them (an entrant, a token, a mail), <paramref name="ago"/> before now.</summary>
    async Task<Documents> Entries(TimeSpan ago, params string[] emails)
    {
        await SignInLink.EnsureTemplates(
            app.Services.GetRequiredService<MailTemplate.Store>(),
            default
        );
        var settings = app.Services.GetRequiredService<Settings>();
        var now = app.Clock.GetUtcNow() - ago;
        var documents = new Documents([], [], []);
        foreach (var (email, i) in emails.Select((e, i) => (e, i)))
        {
            var entrant = Entrant.Enter(
                new EntryInput(email, i == 0 ? "山田 \"太郎\" <b>" : "Ann O'Neil", "ja", i == 1),
                now
            );
            var (token, mail) = SignInLink.Issue(entrant, "ja", firstEntry: true, settings, now);
            documents.Entrants.Add(entrant);
            documents.Tokens.Add(token);
            documents.Mails.Add(mail);
        }
        return documents;
    }

    /// <summary>Writes as the batch does: one statement per table, then COMMIT.</summary>
    async Task WriteAsABatch(Documents documents)
    {
        await using var transaction = await OwnedTransaction.BeginAsync(app.Store, default);
        BatchWrites.Insert(transaction.Session, documents.Entrants);
        BatchWrites.Insert(transaction.Session, documents.Tokens);
        BatchWrites.Insert(transaction.Session, documents.Mails);
        await transaction.CommitAsync();
    }

    sealed record Row(string Id, string Columns, Guid Version, DateTimeOffset LastModified);

    /// <summary>Every row of a table: its columns but the version and the time, as one JSON object.</summary>
    async Task<List<Row>> Rows(string table)
    {
        var rows = new List<Row>();
        await using var reader = await db.CreateCommand(
                $"""
                select id::text, (to_jsonb(t) - 'mt_version' - 'mt_last_modified')::text,
                       mt_version, mt_last_modified
                  from {app.Schema}.{table} t order by id
                """
            )
            .ExecuteReaderAsync();
        while (await reader.ReadAsync())
            rows.Add(
                new(
                    reader.GetString(0),
                    reader.GetString(1),
                    reader.GetGuid(2),
                    reader.GetFieldValue<DateTimeOffset>(3)
                )
            );
        return rows;
    }

    [Fact]
    public async Task The_rows_of_one_statement_per_table_are_the_rows_Marten_writes_one_by_one()
    {
        // A token's version is checked when it is used; Marten would also copy it into a version
        // property, which the token does not have.
        var tokenMapping = (Marten.Schema.DocumentMapping)
            app.Store.Options.FindOrResolveDocumentType(typeof(SignInToken));
        Assert.True(tokenMapping.UseOptimisticConcurrency);
        Assert.Null(tokenMapping.Metadata.Version.Member);

        var documents = await Entries(
            TimeSpan.Zero,
            "a@example.jp",
            "b@example.jp",
            "c@example.jp"
        );
        // A message no process has claimed: a null among the copied columns.
        documents.Mails[2].ClaimedUntil = null;
        await using (var session = app.Session())
        {
            session.Insert(documents.Entrants.ToArray());
            session.Insert(documents.Tokens.ToArray());
            session.Insert(documents.Mails.ToArray());
            await session.SaveChangesAsync();
        }
        var marten = new Dictionary<string, List<Row>>();
        foreach (var table in Tables)
            marten[table] = await Rows(table);
        await db.CreateCommand(string.Concat(Tables.Select(t => $"delete from {app.Schema}.{t};")))
            .ExecuteNonQueryAsync();

        await WriteAsABatch(documents);

        foreach (var table in Tables)
        {
            var batch = await Rows(table);
            Assert.Equal(3, batch.Count);
            // Every column, the copied ones and the .NET type among them, is Marten's own.
            foreach (var (expected, written) in marten[table].Zip(batch))
                Assert.Equal(expected.Columns, written.Columns);
            // Each row has a version of its own, never one Marten gave, and the transaction's time.
            Assert.Equal(3, batch.Select(r => r.Version).Distinct().Count());
            Assert.Empty(
                batch.Select(r => r.Version).Intersect(marten[table].Select(r => r.Version))
            );
            Assert.Single(batch.Select(r => r.LastModified).Distinct());
            Assert.True(batch[0].LastModified > marten[table][0].LastModified);
        }
        Assert.Contains(
            "\"claimed_until\": null",
            (await Rows("mt_doc_outboxmessage"))
                .Single(r => r.Id == documents.Mails[2].Id.ToString())
                .Columns
        );
    }

    [Fact]
    public async Task Marten_loads_and_updates_what_a_batch_wrote_and_a_token_still_works_once()
    {
        // Written five minutes ago and never queued: the relay's sweep finds the mails.
        var documents = await Entries(TimeSpan.FromMinutes(5), "a@example.jp", "b@example.jp");
        await WriteAsABatch(documents);

        await using (var query = app.Store.QuerySession())
        {
            var entrant = await query.LoadAsync<Entrant>(documents.Entrants[0].Id);
            Assert.Equal(
                ("a@example.jp", "山田 \"太郎\" <b>"),
                (entrant!.Email, entrant.DisplayName)
            );
            // The address is unique whatever its case, as for an entrant Marten wrote.
            Assert.Equal(
                documents.Entrants[1].Id,
                (
                    await query
                        .Query<Entrant>()
                        .SingleAsync(e => e.Email.ToLower() == "b@example.jp")
                ).Id
            );
        }

        // The relay claims, sends and records each mail.
        Assert.Equal(2, await app.Services.GetRequiredService<MailRelay>().SweepAsync());
        var mail = Assert.Single(app.SendGrid.MailsTo("a@example.jp"));
        Assert.Equal(documents.Mails[0].Id.ToString(), mail.OutboxId);
        await using (var query = app.Store.QuerySession())
        {
            var sent = await query.LoadManyAsync<OutboxMessage>(documents.Mails.Select(m => m.Id));
            Assert.All(
                sent,
                m => Assert.Equal((OutboxStatus.Sent, null), (m.Status, m.Substitutions))
            );
        }

        // Two requests with one token at the same moment: the version Marten read refuses the second.
        await using (var first = app.Session())
        await using (var second = app.Session())
        {
            var id = documents.Tokens[1].Id;
            var (one, two) = (
                (await first.LoadAsync<SignInToken>(id))!,
                (await second.LoadAsync<SignInToken>(id))!
            );
            Assert.True(one.TryUse(app.Clock.GetUtcNow()) && two.TryUse(app.Clock.GetUtcNow()));
            first.Update(one);
            second.Update(two);
            await first.SaveChangesAsync();
            await Assert.ThrowsAsync<JasperFx.ConcurrencyException>(() =>
                second.SaveChangesAsync()
            );
        }

        // The mailed link signs in once.
        using var client = app.CreateClient();
        using var other = app.CreateClient();
        Assert.Equal(HttpStatusCode.NoContent, (await client.SignIn(mail.Token)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await other.SignIn(mail.Token)).StatusCode);
    }

    [Fact]
    public async Task A_taken_address_fails_the_statement_with_its_SqlState_and_nothing_is_written()
    {
        var taken = await Entries(TimeSpan.Zero, "taken@example.jp");
        await WriteAsABatch(taken);

        var documents = await Entries(TimeSpan.Zero, "first@example.jp", "TAKEN@example.jp");
        var error = await Assert.ThrowsAnyAsync<Exception>(() => WriteAsABatch(documents));

        // What the batch splits on (EntryBatches.IsAboutTheData): PostgreSQL's own answer.
        var refused = Assert.IsType<PostgresException>(Inner(error).Last());
        Assert.Equal(
            (PostgresErrorCodes.UniqueViolation, "mt_doc_entrant_uidx_email"),
            (refused.SqlState, refused.ConstraintName)
        );
        foreach (var table in Tables)
            Assert.Single(await Rows(table));
    }

    static IEnumerable<Exception> Inner(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
            yield return e;
    }
}
