using System.Threading.Channels;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Campaign.Platform;
using Coravel.Queuing.Interfaces;
using Marten;
using Npgsql;

namespace Campaign.Features.Entering;

/// <summary>
/// Group commit: the entries that arrive at one web process together are written together, in one
/// transaction, and each request is then answered with its own outcome. An entry alone costs
/// PostgreSQL a lock, a read, three inserts and a COMMIT (two round trips, one WAL flush); a batch
/// of fifty costs about as many round trips and flushes as one entry, and much less work per entry.
/// <list type="number">
/// <item>Each writer takes every entry waiting, up to <see cref="EntryBatchSettings.Max"/> (or
/// waits <see cref="EntryBatchSettings.Window"/> for more while it has fewer). With nobody else
/// entering, an entry is a batch of one and waits for nothing.</item>
/// <item>In one statement it locks every address's mailbox, sorted by the lock key, and reads
/// what each address has (<see cref="AddressLock"/>). Two batches on two dynos with overlapping
/// addresses take their common locks in the same order: neither waits for the other while holding
/// what the other needs.</item>
/// <item>It decides each entry in order, as if they had come one by one (<see cref="Decide"/>):
/// an address twice in one batch is one entrant, and the mailbox's share of mails is counted
/// across the batch.</item>
/// <item>It sends the writes (one statement per table for the whole batch, <see cref="BatchWrites"/>)
/// and the COMMIT in one round trip, then hands the mails to this process's queue and answers the
/// requests. A request is accepted (202) only once its entry is committed.</item>
/// </list>
/// A batch that fails because of what one entry holds is split in halves and each half written
/// again, so one bad entry fails alone (500: it would fail again); a batch whose database failed
/// answers all its requests with the failure (503, with <c>Retry-After</c>) and has written nothing.
/// An entry that waited longer than <see cref="MaxWait"/> for its batch, or finds
/// <see cref="MaxWaiting"/> entries waiting, is answered 503 with nothing written: under more than a
/// dyno can serve, clients hear so quickly. A request whose client goes away does not stop its
/// batch. The locks of a batch are held while the budgets are asked of Redis (one round trip for
/// all of them).
/// </summary>
public sealed class EntryBatches : IAsyncDisposable
{
    readonly IDocumentStore store;
    readonly Settings settings;
    readonly TimeProvider clock;
    readonly IQueue queue;
    readonly MailTemplate.Store templates;
    readonly MailBudget budget;
    readonly Metrics metrics;
    readonly Channel<Waiting> waiting;
    readonly Task[] writers;

    /// <summary>
    /// The longest an entry waits for its batch to begin. Past it, the entry is answered 503 with
    /// nothing written (the client tries again, or the router's 30 s would end it with nothing
    /// said); a dyno that falls this far behind is past what it can serve.
    /// </summary>
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);

    /// <summary>Entries that may wait at once per process, beyond which an entry is answered 503 at once.</summary>
    public const int MaxWaiting = 2000;

    public EntryBatches(
        IDocumentStore store,
        Settings settings,
        TimeProvider clock,
        IQueue queue,
        MailTemplate.Store templates,
        MailBudget budget,
        Metrics metrics
    )
    {
        (this.store, this.settings, this.clock, this.queue) = (store, settings, clock, queue);
        (this.templates, this.budget, this.metrics) = (templates, budget, metrics);
        waiting = Channel.CreateBounded<Waiting>(
            new BoundedChannelOptions(MaxWaiting) { FullMode = BoundedChannelFullMode.Wait }
        );
        writers = Enumerable
            .Range(0, settings.EntryBatch.Writers)
            .Select(_ => Task.Run(Write))
            .ToArray();
    }

    sealed class Waiting(EntryInput input)
    {
        public EntryInput Input { get; } = input;
        public long Since { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
        public TaskCompletionSource<SubmitEntry.Outcome> Answer { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Whether the hour's budget gave this entry its mail, once asked (kept when its batch is split).</summary>
        public bool? Budget { get; set; }
    }

    /// <summary>
    /// Enters <paramref name="input"/> with whatever else is waiting, and returns its outcome once
    /// its batch is committed. Throws what failed the batch (a backing service: 503).
    /// </summary>
    public Task<SubmitEntry.Outcome> Enter(EntryInput input)
    {
        // Outside the period nothing is locked or read (the batch decides again with its own time).
        if (Period(clock.GetUtcNow()) is { } refused)
            return Task.FromResult(refused);
        var entry = new Waiting(input);
        if (!waiting.Writer.TryWrite(entry))
            throw new TimeoutException(
                "Too many entries are waiting in this process, or it is stopping."
            );
        return entry.Answer.Task;
    }

    SubmitEntry.Outcome? Period(DateTimeOffset now) =>
        settings.Campaign.StartsAt > now ? SubmitEntry.Outcome.NotYetOpen
        : !GetCampaign.IsOpen(settings.Campaign, now) ? SubmitEntry.Outcome.Closed
        : null;

    async Task Write()
    {
        var (max, window) = (settings.EntryBatch.Max, settings.EntryBatch.Window);
        var reader = waiting.Reader;
        while (await reader.WaitToReadAsync())
        {
            var batch = new List<Waiting>(max);
            Take(reader, batch, max);
            if (window > TimeSpan.Zero && batch.Count is > 0 && batch.Count < max)
            {
                // A moment for more to arrive: a wait in real time, not the campaign's clock.
                await Task.Delay(window);
                Take(reader, batch, max);
            }
            if (batch.Count > 0)
                await Run(batch);
        }
    }

    /// <summary>Adds what is waiting to the batch, answering 503 to entries that waited too long.</summary>
    static void Take(ChannelReader<Waiting> reader, List<Waiting> batch, int max)
    {
        while (batch.Count < max && reader.TryRead(out var entry))
            if (System.Diagnostics.Stopwatch.GetElapsedTime(entry.Since) > MaxWait)
                entry.Answer.TrySetException(
                    new TimeoutException("The entry waited too long for its batch.")
                );
            else
                batch.Add(entry);
    }

    async Task Run(List<Waiting> batch)
    {
        try
        {
            var outcomes = await Commit(batch);
            for (var i = 0; i < batch.Count; i++)
                batch[i].Answer.TrySetResult(outcomes[i]);
        }
        catch (Exception error) when (batch.Count > 1 && IsAboutTheData(error))
        {
            // One entry holds what PostgreSQL refuses: each half again, down to that entry alone.
            var half = batch.Count / 2;
            await Run(batch[..half]);
            await Run(batch[half..]);
        }
        catch (Exception error) when (IsAboutTheData(error))
        {
            // This entry alone: what PostgreSQL refused in it will be refused again (500, not 503).
            batch[0]
                .Answer.TrySetException(
                    new InvalidOperationException(
                        $"PostgreSQL refused an entry ({DataFault(error)!.SqlState})."
                    )
                );
        }
        catch (Exception error)
        {
            foreach (var entry in batch)
                entry.Answer.TrySetException(error);
        }
    }

    /// <summary>
    /// Data exceptions (22: a character PostgreSQL cannot store) and integrity violations (23):
    /// about one entry's values, not about the database, which failed the whole batch otherwise.
    /// </summary>
    static bool IsAboutTheData(Exception error) =>
        DataFault(error) is { SqlState: var state }
        && (state.StartsWith("22") || state.StartsWith("23"));

    // Marten wraps what PostgreSQL answered.
    static PostgresException? DataFault(Exception error)
    {
        for (Exception? e = error; e is not null; e = e.InnerException)
            if (e is PostgresException postgres)
                return postgres;
        return null;
    }

    /// <summary>Locks, reads, decides and writes one batch; the outcomes in the batch's order.</summary>
    async Task<IReadOnlyList<SubmitEntry.Outcome>> Commit(List<Waiting> batch)
    {
        var now = clock.GetUtcNow();
        // The period may have ended while the entries waited.
        if (Period(now) is { } refused)
            return [.. batch.Select(_ => refused)];
        await SignInLink.EnsureTemplates(templates, CancellationToken.None);
        await using var transaction = await OwnedTransaction.BeginAsync(
            store,
            CancellationToken.None
        );
        var session = transaction.Session;
        var addresses = await AddressLock.TakeAsync(
            session,
            [.. batch.Select(w => w.Input.Email)],
            now,
            CancellationToken.None
        );
        // Mail to an address nobody has confirmed goes within the hour's budgets (in Redis): taken
        // for the entries that need one, all at once, then decided again knowing the answers. An
        // entry keeps what it was given when its batch is split and written again.
        Decision[] decisions;
        while (true)
        {
            decisions = Decide(batch, addresses, now);
            var asking = decisions
                .Select((d, i) => (d, i))
                .Where(x => x.d.NeedsBudget && batch[x.i].Budget is null)
                .Select(x => x.i)
                .ToList();
            if (asking.Count == 0)
                break;
            var taken = await budget.TryTakeEach([.. asking.Select(i => batch[i].Input.Email)]);
            for (var k = 0; k < asking.Count; k++)
                batch[asking[k]].Budget = taken[k];
        }

        var entrants = new List<Entrant>();
        var tokens = new List<SignInToken>();
        var mails = new List<OutboxMessage>();
        foreach (var decision in decisions)
        {
            if (decision.NewEntrant is { } entrant)
                entrants.Add(entrant);
            if (decision.DeleteWithdrawal is { } withdrawal)
                session.Delete<Backup.Withdrawal>(withdrawal);
            if (decision.MailTo is { } to)
            {
                var (token, mail) = SignInLink.Issue(
                    to,
                    decision.Locale,
                    decision.First,
                    settings,
                    now
                );
                tokens.Add(token);
                mails.Add(mail);
            }
        }
        BatchWrites.Insert(session, entrants);
        BatchWrites.Insert(session, tokens);
        BatchWrites.Insert(session, mails);
        if (mails.Count > 0 || decisions.Any(d => d.NewEntrant is not null))
            await transaction.CommitAsync();
        if (mails.Count > 0)
            queue.QueueInvocableWithPayload<DeliverMail, IReadOnlyList<OutboxMessage>>(mails);

        // How many entries each batch held: what group commit gains, in the operators' logs.
        metrics.Measure("campaign.entry_batch", batch.Count, "");
        Count(decisions, d => d.NewEntrant is not null, "campaign.entries");
        Count(decisions, d => d.Refusal == Refusal.MailboxShare, "campaign.mailbox_capped");
        Count(decisions, d => d.Refusal == Refusal.Budget, "campaign.mail_budget_spent");
        return decisions.Select(d => d.Outcome(budget)).ToList();
    }

    void Count(Decision[] decisions, Func<Decision, bool> which, string metric)
    {
        var count = decisions.Count(which);
        if (count > 0)
            metrics.Count(metric, count);
    }

    enum Refusal
    {
        None,
        MailboxShare,
        Budget,
    }

    /// <summary>
    /// What becomes of one entry: an entrant to insert, a withdrawal record to delete, the entrant
    /// to mail a link (as their first mail or a sign-in), or why it is refused.
    /// </summary>
    sealed record Decision(
        Entrant? NewEntrant = null,
        string? DeleteWithdrawal = null,
        Entrant? MailTo = null,
        string Locale = "",
        bool First = false,
        Refusal Refusal = Refusal.None,
        bool NeedsBudget = false
    )
    {
        public SubmitEntry.Outcome Outcome(MailBudget budget) =>
            Refusal switch
            {
                Refusal.MailboxShare => new(
                    SubmitEntry.Outcome.Kind.TooManyMails,
                    (int)AddressLock.MailWindow.TotalSeconds
                ),
                Refusal.Budget => new(
                    SubmitEntry.Outcome.Kind.TooManyMails,
                    budget.RetryAfterSeconds()
                ),
                _ => SubmitEntry.Outcome.Accepted,
            };
    }

    /// <summary>
    /// Decides each entry in order, as if they had come one at a time: the entrant written for an
    /// address earlier in the batch is the one a repeat finds, and each mail written counts in its
    /// mailbox's share. No I/O: an entry whose budget is not known yet (<see cref="Waiting.Budget"/>
    /// null) is decided as if granted, and marked <c>NeedsBudget</c>.
    /// </summary>
    static Decision[] Decide(
        IReadOnlyList<Waiting> batch,
        IReadOnlyList<AddressLock.Address> addresses,
        DateTimeOffset now
    )
    {
        var entrants = new Dictionary<string, Entrant>();
        var mailsOf = new Dictionary<string, long>();
        var decisions = new Decision[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var (input, read) = (batch[i].Input, addresses[i]);
            var (address, mailbox) = (Mailbox.AddressKey(input.Email), Mailbox.Key(input.Email));
            var entrant = entrants.GetValueOrDefault(address) ?? read.Entrant;
            var mails = mailsOf.TryGetValue(mailbox, out var counted) ? counted : read.RecentMails;
            var firstEntry = entrant is null;
            var shareLeft = mails < AddressLock.MailsPerWindow;
            var needsBudget = entrant is not { Status: EntrantStatus.Confirmed } && shareLeft;
            // Mail to an address nobody has confirmed goes within its mailbox's share and the
            // hour's budgets, or a new entry is refused before anything is written: an entry is
            // never accepted without its mail. (A known address past its share is accepted without
            // a mail, as if it were new: nobody can find out who entered.)
            if (firstEntry && !shareLeft)
            {
                decisions[i] = new(Refusal: Refusal.MailboxShare);
                continue;
            }
            if (needsBudget && batch[i].Budget == false)
            {
                decisions[i] = new(Refusal: Refusal.Budget, NeedsBudget: true);
                continue;
            }
            string? deleteWithdrawal = null;
            if (entrant is null)
            {
                // An existing entrant's name is never changed by an unauthenticated request.
                entrant = Entrant.Enter(input, now);
                // Back after withdrawing: a restore must not skip them any more. (A repeat in the
                // batch finds the entrant written here, and comes to neither line.)
                if (read.Withdrawn)
                    deleteWithdrawal = Backup.Withdrawal.IdOf(input.Email);
                entrants[address] = entrant;
            }
            if (shareLeft)
                mailsOf[mailbox] = mails + 1;
            decisions[i] = new(
                NewEntrant: firstEntry ? entrant : null,
                DeleteWithdrawal: deleteWithdrawal,
                MailTo: shareLeft ? entrant : null,
                Locale: input.Locale,
                First: firstEntry,
                NeedsBudget: needsBudget
            );
        }
        return decisions;
    }

    /// <summary>Lets the entries already waiting be written, then stops the writers.</summary>
    public async ValueTask DisposeAsync()
    {
        waiting.Writer.TryComplete();
        await Task.WhenAll(writers);
    }
}
