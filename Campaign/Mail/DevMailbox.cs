using System.Net;
using System.Text.Json;
using StackExchange.Redis;

namespace Campaign.Mail;

/// <summary>
/// Development without a SendGrid key: mails are posted, by the real SendGrid client, to this
/// handler, which keeps the last ones in Redis (shared by the web and clock processes) for the
/// <c>/dev/mail</c> page (<c>Features/ShowDevMailbox.cs</c>). Never registered outside Development.
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
            var db = services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
            // One mail per recipient, with their substitutions applied, as SendGrid would send it.
            foreach (var personalization in root.GetProperty("personalizations").EnumerateArray())
            {
                string Substitute(string text) =>
                    personalization.TryGetProperty("substitutions", out var values)
                        ? values
                            .EnumerateObject()
                            .Aggregate(text, (t, v) => t.Replace(v.Name, v.Value.GetString()))
                        : text;
                var mail = new Mail(
                    personalization.GetProperty("to")[0].GetProperty("email").GetString()!,
                    root.GetProperty("subject").GetString()!,
                    Substitute(Content("text/plain")),
                    Substitute(Content("text/html")),
                    DateTimeOffset.UtcNow
                );
                await db.ListLeftPushAsync(Key, JsonSerializer.Serialize(mail));
            }
            await db.ListTrimAsync(Key, 0, Keep - 1);
            await db.KeyExpireAsync(Key, TimeSpan.FromDays(1));
            var response = new HttpResponseMessage(HttpStatusCode.Accepted);
            response.Headers.Add("X-Message-Id", $"dev-{Guid.NewGuid():N}");
            return response;
        }
    }
}
