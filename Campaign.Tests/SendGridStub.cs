using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Newtonsoft.Json.Linq;

namespace Campaign.Tests;

/// <summary>
/// SendGrid's v3 mail API cannot run here, so this local HTTP server stands in for it: it records
/// every request and answers 202 with an <c>X-Message-Id</c>, or whatever status a test queues, or
/// the same status to every request while it is down (<see cref="Outage"/>).
/// </summary>
public sealed class SendGridStub : IAsyncDisposable
{
    readonly WebApplication app;
    readonly ConcurrentQueue<int> statuses = new();

    /// <summary>Every request, as received.</summary>
    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>Every recipient of every request (a batched request has up to 1000), in order.</summary>
    public IReadOnlyList<Mail> Mails => [.. Requests.SelectMany(r => r.Mails)];

    /// <summary>The recipients of the requests answered 202: the mail SendGrid took and would deliver.</summary>
    public IReadOnlyList<Mail> Delivered =>
        [.. Requests.Where(r => r.Status == 202).SelectMany(r => r.Mails)];

    public sealed record Received(JObject Body, string? Authorization)
    {
        /// <summary>The status it was answered with; null until answered, and for ever if the client gave up.</summary>
        public int? Status { get; set; }

        public string Subject => (string)Body["subject"]!;

        public IEnumerable<Mail> Mails =>
            ((JArray)Body["personalizations"]!).Select(p => new Mail(
                (string)p["to"]![0]!["email"]!,
                Subject,
                Substitute(Content("text/plain"), p["substitutions"]),
                (string)p["custom_args"]!["outbox_id"]!,
                Authorization
            ));

        string Content(string type) =>
            (string)Body["content"]!.First(c => (string)c["type"]! == type)["value"]!;

        // What SendGrid does with each recipient's substitutions before sending.
        static string Substitute(string text, JToken? substitutions) =>
            substitutions is JObject values
                ? values.Properties().Aggregate(text, (t, p) => t.Replace(p.Name, (string)p.Value!))
                : text;
    }

    /// <summary>One recipient's mail, as it would arrive.</summary>
    public sealed record Mail(
        string To,
        string Subject,
        string Text,
        string OutboxId,
        string? Authorization
    )
    {
        /// <summary>The sign-in token in the mail's link (<c>/sign-in#token=...</c>).</summary>
        public string Token =>
            System
                .Text.RegularExpressions.Regex.Match(Text, "#token=([A-Za-z0-9_-]{43})")
                .Groups[1]
                .Value;
    }

    public SendGridStub()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        app = builder.Build();
        app.MapPost(
            "/v3/mail/send",
            async (HttpContext http) =>
            {
                var body = JObject.Parse(
                    await new StreamReader(http.Request.Body).ReadToEndAsync()
                );
                var received = new Received(body, http.Request.Headers.Authorization);
                Requests.Enqueue(received);
                if (WhileSending is { } meanwhile)
                    await meanwhile();
                var rejected =
                    Rejects is { } bad
                    && body["personalizations"]!.Any(p => (string)p["to"]![0]!["email"]! == bad);
                var status =
                    rejected ? 400
                    : Outage is { } down ? down
                    : statuses.TryDequeue(out var queued) ? queued
                    : 202;
                if (status == NoAnswer)
                {
                    // Down without a word: the request hangs until the client gives up on it.
                    try
                    {
                        await Task.Delay(Timeout.Infinite, http.RequestAborted);
                    }
                    catch (OperationCanceledException) { }
                    return;
                }
                received.Status = status;
                if (status == 202)
                    http.Response.Headers["X-Message-Id"] = $"stub-{Guid.NewGuid():N}";
                if (status == 429)
                    http.Response.Headers.RetryAfter = "1";
                http.Response.StatusCode = status;
            }
        );
        app.StartAsync().GetAwaiter().GetResult();
        Url = app
            .Services.GetRequiredService<IServer>()
            .Features.Get<IServerAddressesFeature>()!
            .Addresses.First();
    }

    public string Url { get; }

    /// <summary>A request with this recipient is refused with 400, as SendGrid refuses a whole request.</summary>
    public string? Rejects { get; set; }

    /// <summary>Runs while a request is being answered: what happens elsewhere during a send.</summary>
    public Func<Task>? WhileSending { get; set; }

    /// <summary>
    /// While set, SendGrid is down: every request is answered with this status (5xx, 429, or 401
    /// and 403 for a refused key), or with nothing at all (<see cref="NoAnswer"/>). Null: it is back.
    /// </summary>
    public int? Outage { get; set; }

    /// <summary>As <see cref="Outage"/>: the request is never answered, and the client's time-out ends it.</summary>
    public const int NoAnswer = 0;

    /// <summary>The next requests get these statuses, in order; then 202 again.</summary>
    public void Answer(params int[] next)
    {
        foreach (var status in next)
            statuses.Enqueue(status);
    }

    public void Reset()
    {
        Requests.Clear();
        statuses.Clear();
        Rejects = null;
        WhileSending = null;
        Outage = null;
    }

    public IReadOnlyList<Mail> MailsTo(string address) =>
        [.. Mails.Where(m => string.Equals(m.To, address, StringComparison.OrdinalIgnoreCase))];

    /// <summary>Waits for the fast path (the in-process queue) to deliver.</summary>
    public async Task<Mail> WaitForMail(string address, int count = 1, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (DateTime.UtcNow < deadline)
        {
            var mails = MailsTo(address);
            if (mails.Count >= count)
                return mails[count - 1];
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException(
            $"no mail #{count} to {address} within the time ({Requests.Count} requests in all)"
        );
    }

    public ValueTask DisposeAsync() => app.DisposeAsync();
}
