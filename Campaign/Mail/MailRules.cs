using Marten;

namespace Campaign.Mail;

/// <summary>
/// What the features tell the relay about their mail, once at startup (<c>Program.cs</c>): for a
/// kind of mail, which messages may still be sent when their turn comes, and the templates their
/// code renders. The relay knows no feature: a kind with no check is always sent (mail to
/// operators), and a template it neither has stored nor was told of fails its message.
/// </summary>
public sealed class MailRules
{
    /// <summary>
    /// Asked of the messages of one kind just before they are sent: those that may no longer go,
    /// each with the reason it is dropped for (the log names it).
    /// </summary>
    public delegate Task<IReadOnlyDictionary<Guid, string>> Check(
        IQuerySession query,
        IReadOnlyList<OutboxMessage> messages,
        CancellationToken cancellationToken
    );

    readonly Dictionary<MailKind, Check> checks = [];
    readonly Dictionary<string, MailTemplate> known = [];

    /// <summary>Mail of <paramref name="kind"/> leaves only if <paramref name="check"/> lets it.</summary>
    public MailRules Checking(MailKind kind, Check check)
    {
        checks.Add(kind, check);
        return this;
    }

    /// <summary>
    /// Templates the code renders (the sign-in mails): the relay knows them without the database
    /// (a copy there serves the mail written before a release changed their wording).
    /// </summary>
    public MailRules Rendering(IEnumerable<MailTemplate> templates)
    {
        foreach (var template in templates)
            known.TryAdd(template.Id, template);
        return this;
    }

    public IReadOnlyCollection<MailTemplate> Templates => known.Values;

    /// <summary>The messages that may no longer go, with their reasons: each kind asked once.</summary>
    public async Task<IReadOnlyDictionary<Guid, string>> Refusals(
        IQuerySession query,
        IEnumerable<OutboxMessage> messages,
        CancellationToken cancellationToken
    )
    {
        var refused = new Dictionary<Guid, string>();
        foreach (var kind in messages.GroupBy(m => m.Kind))
            if (checks.TryGetValue(kind.Key, out var check))
                foreach (var (id, reason) in await check(query, [.. kind], cancellationToken))
                    refused[id] = reason;
        return refused;
    }

    /// <summary>Why mail to an entrant who is gone is dropped.</summary>
    const string Withdrew = "entrant withdrew";

    /// <summary>
    /// A check for mail to entrants that only asks whether each is still there (the documents of
    /// <typeparamref name="TEntrant"/> with the messages' <see cref="OutboxMessage.EntrantId"/> for
    /// id): one query of the ids alone, not the documents, and a message is dropped when its entrant
    /// is gone (they withdrew). This runs for every sign-in mail, on the entry's own path.
    /// </summary>
    public static Check ToExistingEntrants<TEntrant>()
        where TEntrant : notnull =>
        async (query, messages, cancellationToken) =>
        {
            var table = query
                .DocumentStore.Options.FindOrResolveDocumentType(typeof(TEntrant))
                .TableName.QualifiedName;
            var there = (
                await query.QueryAsync<Guid>(
                    $"select id from {table} where id = any(?)",
                    cancellationToken,
                    messages.Select(m => m.EntrantId).Distinct().ToArray()
                )
            ).ToHashSet();
            return messages
                .Where(m => !there.Contains(m.EntrantId))
                .ToDictionary(m => m.Id, _ => Withdrew);
        };

    /// <summary>
    /// A check for mail to entrants, whose documents (<typeparamref name="TEntrant"/>) have the
    /// messages' <see cref="OutboxMessage.EntrantId"/> for id: they are loaded in one query, and a
    /// message is dropped when its entrant is gone (they withdrew), or when
    /// <paramref name="refuses"/> gives a reason for its entrant.
    /// </summary>
    public static Check ToEntrants<TEntrant>(
        Func<TEntrant, Guid> idOf,
        Func<TEntrant, string?> refuses
    )
        where TEntrant : notnull =>
        async (query, messages, cancellationToken) =>
        {
            var entrants = (
                await query.LoadManyAsync<TEntrant>(
                    cancellationToken,
                    messages.Select(m => m.EntrantId).Distinct()
                )
            ).ToDictionary(idOf);
            var refused = new Dictionary<Guid, string>();
            foreach (var message in messages)
            {
                var reason = entrants.TryGetValue(message.EntrantId, out var entrant)
                    ? refuses(entrant)
                    : Withdrew;
                if (reason is not null)
                    refused[message.Id] = reason;
            }
            return refused;
        };
}
