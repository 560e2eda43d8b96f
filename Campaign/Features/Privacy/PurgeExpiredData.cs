using Campaign.Features.Backup;
using Campaign.Features.Entering;
using Campaign.Features.Me;
using Campaign.Features.Photos;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Campaign.Platform;
using Coravel.Invocable;
using Marten;

namespace Campaign.Features.Privacy;

/// <summary>
/// Personal data is kept only as long as the privacy policy says (<c>/privacy</c>):
/// <list type="bullet">
/// <item>an entry never confirmed goes <c>PENDING_RETENTION_DAYS</c> (7) after it was made, unless
/// its entrant holds a sign-in link that still works;</item>
/// <item>a sign-in link goes once it has expired;</item>
/// <item>everything else goes <c>RETENTION_DAYS</c> (90) after the campaign ends
/// (<c>CAMPAIGN_ENDS_AT</c>): entrants, their sessions, photos, mail records and the withdrawal
/// tombstones; the operator is told what went (<c>OPERATOR_EMAIL</c>).</item>
/// </list>
/// The clock runs it every hour (<c>Clock/Schedule.cs</c>); <c>./Campaign retention-purge</c> runs
/// it now. It only deletes what its rules name, so a run may repeat or stop at any point.
/// </summary>
public sealed partial class PurgeExpiredData(
    IDocumentStore store,
    RedisSessionStore sessions,
    PhotoStorage storage,
    Settings settings,
    TimeProvider clock,
    ILogger<PurgeExpiredData> logger
) : IInvocable
{
    const int PageSize = 500;

    /// <summary>What a run deleted (or, in a dry run, would delete).</summary>
    public sealed record Summary(
        bool CampaignPurge,
        int PendingEntrants,
        int Entrants,
        int Photos,
        int MailRecords,
        int Tombstones,
        int ExpiredLinks = 0
    )
    {
        public bool Any =>
            PendingEntrants + Entrants + Photos + MailRecords + Tombstones + ExpiredLinks > 0;

        public override string ToString() =>
            $"campaign_purge={(CampaignPurge ? "yes" : "no")} pending_entrants={PendingEntrants} entrants={Entrants} photos={Photos} mail_records={MailRecords} tombstones={Tombstones} expired_links={ExpiredLinks}";
    }

    /// <summary>When everything goes: the campaign's end plus RETENTION_DAYS; never while it has no end.</summary>
    public static DateTimeOffset? CampaignPurgeAt(Settings settings) =>
        settings.Campaign.EndsAt + settings.Retention.AfterCampaign;

    public async Task Invoke()
    {
        var summary = await Run(dryRun: false, default);
        if (summary.Any)
            LogPurged(logger, summary.ToString());
    }

    public Task<Summary> Run(bool dryRun, CancellationToken cancellationToken) =>
        CampaignPurgeAt(settings) <= clock.GetUtcNow()
            ? PurgeCampaign(dryRun, cancellationToken)
            : PurgePending(dryRun, cancellationToken);

    async Task<Summary> PurgePending(bool dryRun, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var before = now - settings.Retention.Pending;
        var purged = 0;
        var after = Guid.Empty;
        while (true)
        {
            await using var session = store.LightweightSession();
            // Keyset paging: the entrants kept (signing in) are not met again.
            var page = await session.QueryAsync<Entrant>(
                """
                where d.data ->> 'status' = 'Pending'
                  and (d.data ->> 'createdAt')::timestamptz < ?
                  and d.id > ?
                order by d.id
                limit ?
                """,
                cancellationToken,
                before,
                after,
                PageSize
            );
            if (page.Count == 0)
                break;
            after = page[^1].Id;
            // Someone who asked for a link a minute ago is about to confirm: not now.
            var ids = page.Select(e => e.Id).ToArray();
            var signingIn = await session
                .Query<SignInToken>()
                .Where(t => ids.Contains(t.EntrantId) && t.ExpiresAt > now && t.UsedAt == null)
                .Select(t => t.EntrantId)
                .ToListAsync(cancellationToken);
            var expired = ids.Except(signingIn).ToArray();
            if (!dryRun && expired.Length > 0)
                await Withdraw.Erase(expired, session, sessions, storage, now, cancellationToken);
            purged += expired.Length;
        }
        return new Summary(
            false,
            purged,
            0,
            0,
            0,
            0,
            await PurgeExpiredLinks(now, dryRun, cancellationToken)
        );
    }

    /// <summary>
    /// Sign-in links past their expiry, used or not: they open nothing any more, and left alone
    /// they would pile up until the campaign ends (one or more per entry).
    /// </summary>
    async Task<int> PurgeExpiredLinks(
        DateTimeOffset now,
        bool dryRun,
        CancellationToken cancellationToken
    )
    {
        await using var session = store.LightweightSession();
        var expired = await session
            .Query<SignInToken>()
            .CountAsync(t => t.ExpiresAt <= now, cancellationToken);
        if (dryRun || expired == 0)
            return expired;
        session.DeleteWhere<SignInToken>(t => t.ExpiresAt <= now);
        await session.SaveChangesAsync(cancellationToken);
        return expired;
    }

    async Task<Summary> PurgeCampaign(bool dryRun, CancellationToken cancellationToken)
    {
        await using var query = store.QuerySession();
        var entrants = await query.Query<Entrant>().CountAsync(cancellationToken);
        var photos = await query
            .Query<Entrant>()
            .CountAsync(e => e.Photo != null, cancellationToken);
        // Operator mail (this purge's own summary among it) names no entrant: it stays.
        var mail = await query
            .Query<OutboxMessage>()
            .CountAsync(m => m.Kind != MailKind.Operator, cancellationToken);
        var tombstones = await query.Query<Withdrawal>().CountAsync(cancellationToken);
        var summary = new Summary(true, 0, entrants, photos, mail, tombstones);
        if (dryRun || !summary.Any)
            return summary;

        while (true)
        {
            await using var session = store.LightweightSession();
            var ids = await session
                .Query<Entrant>()
                .Select(e => e.Id)
                .Take(PageSize)
                .ToListAsync(cancellationToken);
            if (ids.Count == 0)
                break;
            await Withdraw.Erase(
                [.. ids],
                session,
                sessions,
                storage,
                clock.GetUtcNow(),
                cancellationToken
            );
        }
        // What no entrant holds any more: mail records and links left behind, and the withdrawal
        // tombstones (the backups made before this purge are deleted too: docs/ja/operations.md).
        await using (var session = store.LightweightSession())
        {
            session.DeleteWhere<OutboxMessage>(m => m.Kind != MailKind.Operator);
            session.DeleteWhere<SignInToken>(t => true);
            session.DeleteWhere<PhotoUpload>(u => true);
            session.DeleteWhere<Withdrawal>(w => true);
            session.DeleteWhere<Unsubscription>(u => true);
            // A run that never completed keeps its cursor, an entrant's id; completed ones keep
            // only their date and counts.
            session.DeleteWhere<Campaign.Features.Reminders.NightlyRun>(r => r.CompletedAt == null);
            WriteOperatorSummary(session, summary);
            await session.SaveChangesAsync(cancellationToken);
        }
        return summary;
    }

    /// <summary>Tells every operator (OPERATOR_EMAILS) what the campaign's purge deleted.</summary>
    void WriteOperatorSummary(IDocumentSession session, Summary summary)
    {
        var now = clock.GetUtcNow();
        var text = $"""
            キャンペーン終了後の保存期間が過ぎたため、個人データを削除しました。
            The campaign's retention period is over: its personal data is deleted.

            応募者 / Entrants:              {summary.Entrants}
            写真 / Photos:                  {summary.Photos}
            メールの記録 / Mail records:     {summary.MailRecords}
            退会の記録 / Withdrawal records: {summary.Tombstones}

            この日より前のバックアップも削除してください（docs/ja/operations.md）。
            Delete the backups made before today too (docs/ja/operations.md).

            """;
        foreach (var to in settings.Nightly.Operators)
            session.Insert(
                OutboxMessage.For(
                    $"retention-purge:{now:yyyy-MM-ddTHH:mm:ss}:{Mailbox.AddressKey(to.Address)}",
                    Guid.Empty,
                    to.Address,
                    RenderedMail.Plain(
                        "[Campaign] 個人データを削除しました / personal data purged",
                        text
                    ),
                    now,
                    expiresAt: null,
                    MailKind.Operator
                )
            );
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "retention purge {Summary}")]
    static partial void LogPurged(ILogger logger, string summary);
}
