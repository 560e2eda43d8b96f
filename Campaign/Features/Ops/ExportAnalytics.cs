using System.Globalization;
using System.Text;
using JasperFx.CommandLine;

namespace Campaign.Features.Ops;

/// <summary>
/// The hourly numbers for analysis, as CSV: <c>GET /ops/export.csv</c> (operators) and
/// <c>./Campaign analytics-export &gt; hours.csv</c> (a one-off dyno). No personal data: counts per
/// hour only. UTF-8 with a byte order mark, so that Excel reads Japanese headers correctly.
/// </summary>
public static class ExportAnalytics
{
    public static readonly string[] Columns =
    [
        "hour_utc",
        "landing_views",
        "landing_visitors",
        "entries",
        "entries_confirmed",
        "confirmations",
        "photos_attached",
        "mails_sent",
        "mails_failed",
        "mails_dropped",
        "rate_limited",
        "mail_refused",
        "bad_input",
    ];

    public static async Task<IResult> Csv(HttpContext http, Dashboard dashboard)
    {
        var csv = Render(await dashboard.AllHours());
        http.Response.Headers.ContentDisposition = "attachment; filename=\"campaign-hours.csv\"";
        return TypedResults.File(csv, "text/csv; charset=utf-8");
    }

    public static byte[] Render(IEnumerable<ShowDashboard.HourRow> hours)
    {
        var text = new StringBuilder();
        text.Append(string.Join(',', Columns)).Append("\r\n");
        foreach (var h in hours)
            text.Append(
                    string.Join(
                        ',',
                        h.Hour.UtcDateTime.ToString(
                            "yyyy-MM-ddTHH:mm:ssZ",
                            CultureInfo.InvariantCulture
                        ),
                        h.Views,
                        h.Visitors,
                        h.Entries,
                        h.EntriesConfirmed,
                        h.Confirmations,
                        h.PhotosAttached,
                        h.MailsSent,
                        h.MailsFailed,
                        h.MailsDropped,
                        h.RateLimited,
                        h.MailRefused,
                        h.BadInput
                    )
                )
                .Append("\r\n");
        return [.. Encoding.UTF8.GetPreamble(), .. Encoding.UTF8.GetBytes(text.ToString())];
    }
}

[Description(
    "Writes the hourly numbers of the campaign as CSV to stdout",
    Name = "analytics-export"
)]
public sealed class AnalyticsExportCommand : JasperFxAsyncCommand<NetCoreInput>
{
    public override async Task<bool> Execute(NetCoreInput input)
    {
        using var host = input.BuildHost();
        var dashboard = ActivatorUtilities.CreateInstance<Dashboard>(host.Services);
        var hours = await dashboard.AllHours();
        await using var stdout = Console.OpenStandardOutput();
        await stdout.WriteAsync(ExportAnalytics.Render(hours));
        Console.Error.WriteLine($"analytics-export: {hours.Count} hours");
        return true;
    }
}
