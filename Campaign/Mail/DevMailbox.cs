using System.Net;
using System.Text.Json;
using StackExchange.Redis;

namespace Campaign.Mail;

/// <summary>
/// Development without a SendGrid key: mails are posted, by the real SendGrid client, to this
/// handler, which keeps the last ones in Redis (shared by the web and clock processes) for the
/// <c>/dev/mail</c> page. Never registered outside Development.
/// </summary>
public static class DevMailbox
{
    const string Key = "dev-mailbox";
    const int Keep = 50;

    public sealed record Mail(
        string To,
        string Subject,
        string Text,
        string Html,
        DateTimeOffset At
    );

    public static async Task<IResult> Show(HttpContext http, IConnectionMultiplexer redis) =>
        Pages.Page.Show<Pages.DevMailPage>(
            new { Locale = Features.Language.Of(http), Mails = await Latest(redis) }
        );

    public static async Task<IReadOnlyList<Mail>> Latest(IConnectionMultiplexer redis)
    {
        var items = await redis.GetDatabase().ListRangeAsync(Key, 0, Keep - 1);
        return [.. items.Select(i => JsonSerializer.Deserialize<Mail>((string)i!)!)];
    }

    public sealed class Handler(IServiceProvider services) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(
            HttpRequestMessage request,
            CancellationToken cancellationToken
        )
        {
            using var body = JsonDocument.Parse(
                await request.Content!.ReadAsStringAsync(cancellationToken)
            );
            var root = body.RootElement;
            string Content(string type) =>
                root.GetProperty("content")
                    .EnumerateArray()
                    .FirstOrDefault(c => c.GetProperty("type").GetString() == type)
                    is { ValueKind: JsonValueKind.Object } c
                    ? c.GetProperty("value").GetString() ?? ""
                    : "";
            var mail = new Mail(
                root.GetProperty("personalizations")[0]
                    .GetProperty("to")[0]
                    .GetProperty("email")
                    .GetString()!,
                root.GetProperty("subject").GetString()!,
                Content("text/plain"),
                Content("text/html"),
                DateTimeOffset.UtcNow
            );
            var db = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
            await db.ListLeftPushAsync(Key, JsonSerializer.Serialize(mail));
            await db.ListTrimAsync(Key, 0, Keep - 1);
            await db.KeyExpireAsync(Key, TimeSpan.FromDays(1));
            var response = new HttpResponseMessage(HttpStatusCode.Accepted);
            response.Headers.Add("X-Message-Id", $"dev-{Guid.NewGuid():N}");
            return response;
        }
    }
}
