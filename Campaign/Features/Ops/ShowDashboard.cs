using System.Collections.Concurrent;
using System.Text.Json;
using Campaign.Pages;
using Campaign.Platform;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Npgsql;
using StackExchange.Redis;

namespace Campaign.Features.Ops;

/// <summary>
/// <c>GET /ops</c>, the operators' dashboard, and <c>GET /ops/charts</c>, its charts alone (the page
/// refreshes them every 30 s). Everything comes from the hourly roll-ups (<see cref="HourlyTally"/>),
/// the waiting mail and the nightly runs: a few small queries whatever the number of entrants, no
/// entrant's address or name. One dyno computes the view and Redis keeps it for 30 s for every
/// dyno. With <c>ANALYTICS_DATABASE_URL</c> (a follower) the queries go there.
/// </summary>
public static class ShowDashboard
{
    public static readonly TimeSpan CachedFor = TimeSpan.FromSeconds(30);
    public const int Hours = 72;
    const string CacheKey = "ops:dashboard";

    /// <summary>
    /// One hour's numbers. <c>EntriesConfirmed</c> counts the hour's entries confirmed since (the rest
    /// are not yet confirmed); <c>Confirmations</c>, the confirmations made in the hour.
    /// </summary>
    public sealed record HourRow(
        DateTimeOffset Hour,
        long Entries,
        long EntriesConfirmed,
        long Confirmations,
        long PhotosAttached,
        long MailsSent,
        long MailsFailed,
        long MailsDropped,
        long RateLimited,
        long MailRefused,
        long BadInput,
        long Views,
        long Visitors
    );

    public sealed record Backlog(long Waiting, DateTimeOffset? Oldest);

    public sealed record Night(
        string Date,
        int Reminded,
        DateTimeOffset StartedAt,
        DateTimeOffset? CompletedAt
    );

    public sealed record View(
        DateTimeOffset At,
        IReadOnlyList<HourRow> Hours,
        HourRow Total,
        Backlog Mail,
        IReadOnlyList<Night> Nights
    );

    public static async Task<IResult> Page(HttpContext http, Dashboard dashboard) =>
        Campaign.Pages.Page.Show<OpsPage>(
            new
            {
                Locale = Language.Of(http),
                Charts = new MarkupString(await dashboard.ChartsHtml(Language.Of(http))),
            }
        );

    public static async Task<IResult> Charts(HttpContext http, Dashboard dashboard) =>
        TypedResults.Content(
            await dashboard.ChartsHtml(Language.Of(http)),
            "text/html; charset=utf-8"
        );

    /// <summary>The rows of the hourly table, one per hour and metric, as <see cref="HourRow"/>s.</summary>
    public static HourRow Row(DateTimeOffset hour, IReadOnlyDictionary<string, long> values)
    {
        long V(params string[] names) => names.Sum(n => values.GetValueOrDefault(n));
        return new(
            hour,
            V("campaign.entries"),
            V(HourlyTally.EntriesConfirmed),
            V("campaign.confirmations"),
            V("campaign.photos_attached"),
            V("campaign.mails_sent"),
            V("campaign.mails_failed"),
            V("campaign.mails_dropped"),
            V("campaign.rate_limited"),
            V("campaign.mail_budget_spent", "campaign.mailbox_capped"),
            V("campaign.entries_invalid"),
            V(CountVisits.Views),
            V(CountVisits.Visitors)
        );
    }
}

/// <summary>The PostgreSQL the dashboard and the export read: a follower when one is set.</summary>
public sealed record AnalyticsDatabase(NpgsqlDataSource Source);

/// <summary>
/// Computes the dashboard's view, or takes the one another dyno computed in the last 30 s; its
/// charts are drawn once per view and language in each process.
/// </summary>
public sealed class Dashboard(
    AnalyticsDatabase database,
    Settings settings,
    IConnectionMultiplexer redis,
    TimeProvider clock,
    IServiceScopeFactory scopes,
    ILoggerFactory loggers
)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    readonly ConcurrentDictionary<string, (DateTimeOffset At, string Html)> drawn = new();

    /// <summary>The charts as HTML, for the view of the moment (drawn again only when it changed).</summary>
    public async Task<string> ChartsHtml(string locale)
    {
        var view = await Current();
        if (drawn.TryGetValue(locale, out var known) && known.At == view.At)
            return known.Html;
        await using var scope = scopes.CreateAsyncScope();
        await using var renderer = new HtmlRenderer(scope.ServiceProvider, loggers);
        var html = await renderer.Dispatcher.InvokeAsync(async () =>
            (
                await renderer.RenderComponentAsync<OpsCharts>(
                    ParameterView.FromDictionary(
                        new Dictionary<string, object?> { ["Locale"] = locale, ["View"] = view }
                    )
                )
            ).ToHtmlString()
        );
        drawn[locale] = (view.At, html);
        return html;
    }

    public async Task<ShowDashboard.View> Current()
    {
        try
        {
            if ((string?)await redis.GetDatabase().StringGetAsync("ops:dashboard") is { } cached)
                return JsonSerializer.Deserialize<ShowDashboard.View>(cached, Json)!;
        }
        catch (Exception e) when (e is RedisException or TimeoutException) { }
        var view = await Compute();
        try
        {
            await redis
                .GetDatabase()
                .StringSetAsync(
                    "ops:dashboard",
                    JsonSerializer.Serialize(view, Json),
                    ShowDashboard.CachedFor
                );
        }
        catch (Exception e) when (e is RedisException or TimeoutException) { }
        return view;
    }

    /// <summary>Every hour on record, oldest first (the export).</summary>
    public async Task<List<ShowDashboard.HourRow>> AllHours() =>
        [.. (await Hourly(DateTimeOffset.MinValue)).Select(h => ShowDashboard.Row(h.Key, h.Value))];

    /// <summary>The hourly table's numbers from an hour on, by hour and metric.</summary>
    async Task<SortedDictionary<DateTimeOffset, Dictionary<string, long>>> Hourly(
        DateTimeOffset from
    )
    {
        var byHour = new SortedDictionary<DateTimeOffset, Dictionary<string, long>>();
        await using var command = database.Source.CreateCommand(
            $"select hour, metric, value from {settings.DatabaseSchema}.{HourlyTally.Table} where hour >= $1"
        );
        command.Parameters.Add(new() { Value = from.UtcDateTime });
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var hour = new DateTimeOffset(reader.GetDateTime(0), TimeSpan.Zero);
            (byHour.TryGetValue(hour, out var row) ? row : byHour[hour] = [])[reader.GetString(1)] =
                reader.GetInt64(2);
        }
        return byHour;
    }

    public async Task<ShowDashboard.View> Compute()
    {
        var now = clock.GetUtcNow().ToUniversalTime();
        var first = HourlyTally.HourOf(now).AddHours(1 - ShowDashboard.Hours);
        var schema = settings.DatabaseSchema;
        var byHour = await Hourly(first);
        // The campaign's totals, summed by PostgreSQL.
        var total = new Dictionary<string, long>();
        await using (
            var command = database.Source.CreateCommand(
                $"select metric, sum(value)::bigint from {schema}.{HourlyTally.Table} group by metric"
            )
        )
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                total[reader.GetString(0)] = reader.GetInt64(1);
        var hours = Enumerable
            .Range(0, ShowDashboard.Hours)
            .Select(h => first.AddHours(h))
            .Select(h => ShowDashboard.Row(h, byHour.GetValueOrDefault(h) ?? []))
            .ToList();

        ShowDashboard.Backlog backlog;
        await using (
            var command = database.Source.CreateCommand(
                $"select count(*), min(created_at) from {schema}.mt_doc_outboxmessage where status = 'Pending'"
            )
        )
        await using (var reader = await command.ExecuteReaderAsync())
        {
            await reader.ReadAsync();
            backlog = new(
                reader.GetInt64(0),
                reader.IsDBNull(1) ? null : new DateTimeOffset(reader.GetDateTime(1), TimeSpan.Zero)
            );
        }

        var nights = new List<ShowDashboard.Night>();
        await using (
            var command = database.Source.CreateCommand(
                $"""
                select id, coalesce((data ->> 'enqueued')::int, 0), (data ->> 'startedAt')::timestamptz,
                       (data ->> 'completedAt')::timestamptz
                from {schema}.mt_doc_nightlyrun order by id desc limit 14
                """
            )
        )
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                nights.Add(
                    new(
                        reader.GetString(0),
                        reader.GetInt32(1),
                        new DateTimeOffset(reader.GetDateTime(2), TimeSpan.Zero),
                        reader.IsDBNull(3)
                            ? null
                            : new DateTimeOffset(reader.GetDateTime(3), TimeSpan.Zero)
                    )
                );
        return new(now, hours, ShowDashboard.Row(first, total), backlog, nights);
    }
}
