using Campaign.Platform;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using SendGrid;

namespace Campaign.Mail;

public static class MailServices
{
    /// <summary>
    /// SendGrid's client on an <c>HttpClient</c> from the factory, with a resilience handler: retries
    /// 429 (honouring Retry-After), 5xx and network errors, never another 4xx, all within a bounded
    /// time. The SendGrid client's own retry stays off. In Development without a key, the same client
    /// posts to the local mailbox (<c>/dev/mail</c>) instead of SendGrid.
    /// <para>
    /// What may still be sent, and the templates the code renders, are the features' to say
    /// (<paramref name="rules"/>, in <c>Program.cs</c>): mail knows no feature.
    /// </para>
    /// </summary>
    public static IServiceCollection AddMail(
        this IServiceCollection services,
        Settings settings,
        Action<MailRules> rules
    )
    {
        var client = services.AddHttpClient("sendgrid");
        if (settings.Mail.SendGridApiKey is null)
            client.ConfigurePrimaryHttpMessageHandler(sp => new DevMailbox.Handler(sp));
        else
            client.AddResilienceHandler(
                "sendgrid",
                pipeline =>
                    pipeline
                        .AddTimeout(TimeSpan.FromSeconds(30))
                        .AddRetry(
                            new HttpRetryStrategyOptions
                            {
                                // Transient outcomes only: 408, 429, 5xx, network errors, timeouts.
                                MaxRetryAttempts = 3,
                                BackoffType = DelayBackoffType.Exponential,
                                UseJitter = true,
                                Delay = TimeSpan.FromSeconds(1),
                                ShouldRetryAfterHeader = true,
                            }
                        )
                        .AddTimeout(TimeSpan.FromSeconds(10))
            );

        services.AddTransient<ISendGridClient>(sp => new SendGridClient(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient("sendgrid"),
            new SendGridClientOptions
            {
                ApiKey = settings.Mail.SendGridApiKey ?? "development-mailbox",
                Host =
                    settings.Mail.SendGridApiUrl?.ToString().TrimEnd('/')
                    ?? "https://api.sendgrid.com",
            }
        ));
        var told = new MailRules();
        rules(told);
        services.AddSingleton(told);
        services.AddSingleton<OutboxTable>();
        services.AddSingleton<SendGridSender>();
        services.AddSingleton<MailRelay>();
        services.AddTransient<DeliverMail>();
        services.AddTransient<SweepOutbox>();
        return services;
    }
}
