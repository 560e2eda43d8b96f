using Campaign.Features.Entering;
using Campaign.Mail;
using Campaign.Platform;
using Marten;
using Npgsql;
using Weasel.Core;

namespace Campaign.Features.Reminders;

/// <summary>
/// Writes tonight's reminders into the outbox (the sweep then sends them), then the operator's
/// summary. Safe to run any number of times, from any process: one run per night holds a
/// PostgreSQL advisory lock (a second clock, or a one-off run at the same moment, skips), each
/// reminder's id follows from (night, entrant) so a re-run writes nothing twice, and the cursor
/// lets a run stopped anywhere resume where it stopped.
/// </summary>
public sealed partial class RunNightlyMail(
    IDocumentStore store,
    NpgsqlDataSource database,
    Settings settings,
    TimeProvider clock,
    Metrics metrics,
    Privacy.UnsubscribeKey.Store unsubscribeKeys,
    ILogger<RunNightlyMail> logger
)
{
    public const int PageSize = 1000;

    public sealed record Outcome(bool Ran, int Qualifying, int Enqueued, bool SummaryWritten);

    /// <summary>Runs (or resumes) the night's batch. With <paramref name="dryRun"/>, counts and writes nothing.</summary>
    public async Task<Outcome> Run(
        DateOnly night,
        bool dryRun,
        Action<int>? progress,
        CancellationToken cancellationToken
    )
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var lockTransaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (
            var take = new NpgsqlCommand(
                "select pg_try_advisory_xact_lock(hashtextextended(@key, 0))",
                connection,
                lockTransaction
            )
        )
        {
            // Advisory locks belong to the whole database: the schema is part of the key.
            take.Parameters.AddWithValue(
                "key",
                $"nightly:{settings.DatabaseSchema}:{night:yyyy-MM-dd}"
            );
            if (!(bool)(await take.ExecuteScalarAsync(cancellationToken))!)
            {
                LogSkipped(logger, night.ToString("yyyy-MM-dd"));
                return new Outcome(false, 0, 0, false);
            }
        }

        await using var session = store.LightweightSession();
        var run =
            await session.LoadAsync<NightlyRun>(NightlyRun.IdOf(night), cancellationToken)
            ?? new NightlyRun { Id = NightlyRun.IdOf(night), StartedAt = clock.GetUtcNow() };
        if (run.CompletedAt is not null && !dryRun)
            return new Outcome(true, 0, 0, false);

        var qualifying = 0;
        var cursor = dryRun ? Guid.Empty : run.Cursor;
        var templates = NightlyReminder.Templates(night, settings, clock.GetUtcNow());
        var unsubscribeKey = dryRun ? [] : await unsubscribeKeys.Current(cancellationToken);
        if (!dryRun)
        {
            // Before any reminder that names them.
            session.Store(templates.Values.ToArray());
            await session.SaveChangesAsync(cancellationToken);
        }
        while (!cancellationToken.IsCancellationRequested)
        {
            var page = await NightlyReminder.QualifyingPage(
                session,
                cursor,
                PageSize,
                cancellationToken
            );
            if (page.Count == 0)
                break;
            var qualified = page.Where(NightlyReminder.Qualifies).ToList();
            qualifying += qualified.Count;
            cursor = page[^1].Id;
            if (!dryRun)
            {
                var now = clock.GetUtcNow();
                var messages = qualified
                    .Select(e =>
                        NightlyReminder.Message(
                            e,
                            night,
                            templates,
                            settings,
                            now,
                            UnsubscribeLink(unsubscribeKey, e.Id)
                        )
                    )
                    .ToList();
                await InsertNew(session, messages, cancellationToken);
                run.Cursor = cursor;
                run.Enqueued += qualified.Count;
                session.Store(run);
                await session.SaveChangesAsync(cancellationToken);
            }
            progress?.Invoke(qualifying);
        }
        cancellationToken.ThrowIfCancellationRequested();
        if (dryRun)
            return new Outcome(true, qualifying, 0, false);

        var summary = await WriteSummary(session, night, run.Enqueued, cancellationToken);
        run.CompletedAt = clock.GetUtcNow();
        // The cursor is an entrant's id, needed only to resume: it must not outlive them.
        run.Cursor = Guid.Empty;
        session.Store(run);
        await session.SaveChangesAsync(cancellationToken);
        await lockTransaction.CommitAsync(cancellationToken);
        LogCompleted(logger, run.Id, run.Enqueued);
        metrics.Measure(
            "campaign.nightly_duration",
            (clock.GetUtcNow() - run.StartedAt).TotalSeconds,
            "s"
        );
        return new Outcome(true, qualifying, run.Enqueued, summary);
    }

    /// <summary>
    /// Writes the page's reminders that are not there yet, by PostgreSQL's fastest path (COPY). A
    /// run stopped between writing a page and moving the cursor has written some of them already;
    /// only this run writes tonight's reminders (it holds the lock), so leaving out the ids found
    /// is exact.
    /// </summary>
    async Task InsertNew(
        IQuerySession session,
        List<OutboxMessage> messages,
        CancellationToken cancellationToken
    )
    {
        var ids = messages.Select(m => m.Id).ToArray();
        var there = (
            await session
                .Query<OutboxMessage>()
                .Where(m => ids.Contains(m.Id))
                .Select(m => m.Id)
                .ToListAsync(cancellationToken)
        ).ToHashSet();
        var fresh = messages.Where(m => !there.Contains(m.Id)).ToList();
        if (fresh.Count > 0)
            await store.BulkInsertAsync(
                fresh,
                BulkInsertMode.InsertsOnly,
                PageSize,
                cancellationToken
            );
    }

    Uri UnsubscribeLink(byte[] key, Guid entrantId) =>
        new(settings.AppBaseUrl, $"/unsubscribe/{Privacy.UnsubscribeKey.TokenFor(key, entrantId)}");

    /// <summary>The day's numbers, to every operator (OPERATOR_EMAILS), written with the run's end.</summary>
    async Task<bool> WriteSummary(
        IDocumentSession session,
        DateOnly night,
        int reminders,
        CancellationToken cancellationToken
    )
    {
        if (settings.Nightly.Operators.Count == 0)
            return false;
        var zone = settings.Campaign.TimeZone;
        var midnight = night.ToDateTime(TimeOnly.MinValue);
        // PostgreSQL compares instants: the campaign-local day, in UTC.
        var start = new DateTimeOffset(midnight, zone.GetUtcOffset(midnight)).ToUniversalTime();
        var end = start.AddDays(1);
        var entered = await session
            .Query<Entrant>()
            .CountAsync(e => e.CreatedAt >= start && e.CreatedAt < end, cancellationToken);
        var confirmed = await session
            .Query<Entrant>()
            .CountAsync(e => e.ConfirmedAt >= start && e.ConfirmedAt < end, cancellationToken);
        var photos = await session
            .Query<Entrant>()
            .CountAsync(
                e => e.Photo!.AttachedAt >= start && e.Photo.AttachedAt < end,
                cancellationToken
            );
        var failed = await session
            .Query<OutboxMessage>()
            .CountAsync(
                m => m.Status == OutboxStatus.Failed && m.CreatedAt >= start && m.CreatedAt < end,
                cancellationToken
            );
        var text = $"""
            キャンペーン {night:yyyy-MM-dd} の集計 / Campaign summary for {night:yyyy-MM-dd}

            新しい応募 / New entrants:      {entered}
            応募確定 / Confirmed:          {confirmed}
            写真の登録 / Photos added:      {photos}
            リマインダ / Reminders queued: {reminders}
            送信失敗 / Mails failed:        {failed}

            """;
        var mail = RenderedMail.Plain($"[Campaign] {night:yyyy-MM-dd} の集計 / summary", text);
        foreach (var to in settings.Nightly.Operators)
            session.Insert(
                OutboxMessage.For(
                    $"summary:{night:yyyy-MM-dd}:{Mailbox.AddressKey(to.Address)}",
                    Guid.Empty,
                    to.Address,
                    mail,
                    clock.GetUtcNow(),
                    expiresAt: null,
                    MailKind.Operator
                )
            );
        return true;
    }

    [LoggerMessage(
        Level = LogLevel.Information,
        Message = "nightly mail {Night}: another run holds the lock, skipping"
    )]
    static partial void LogSkipped(ILogger logger, string night);

    [LoggerMessage(
        Level = LogLevel.Information,
        Message = "nightly mail {Night}: complete, reminders={Reminders}"
    )]
    static partial void LogCompleted(ILogger logger, string night, int reminders);
}
