using Campaign.Platform;
using SendGrid;
using SendGrid.Helpers.Mail;

namespace Campaign.Mail;

/// <summary>
/// One request to SendGrid: a body for up to <see cref="MaxRecipientsPerRequest"/> recipients, each
/// a personalization with their own address, values for the body's placeholders, headers, and
/// outbox id in <c>custom_args</c> (SendGrid has no idempotency key: the id is how a copy sent twice
/// is told apart). It answers what SendGrid answered; what follows from the answer is the relay's.
/// </summary>
public sealed class SendGridSender(ISendGridClient sendGrid, Settings settings)
{
    /// <summary>SendGrid takes at most 1000 personalizations (recipients) in one request.</summary>
    public const int MaxRecipientsPerRequest = 1000;

    /// <summary>
    /// SendGrid's status (null when it could not be reached), the message id it gave
    /// (<c>X-Message-Id</c>), and the error an attempt that failed is recorded with.
    /// </summary>
    public sealed record Answer(int? Status, string? ProviderId, string Error);

    public async Task<Answer> Post(
        OutboxMessage[] messages,
        RenderedMail body,
        CancellationToken cancellationToken
    )
    {
        var from = settings.Mail.From;
        var mail = new SendGridMessage
        {
            From = new EmailAddress(from.Address, from.DisplayName),
            Subject = body.Subject,
            PlainTextContent = body.Text,
            HtmlContent = body.Html,
            Personalizations =
            [
                .. messages.Select(m => new Personalization
                {
                    Tos = [new EmailAddress(m.To)],
                    Substitutions = m.Substitutions,
                    Headers = m.Headers,
                    CustomArgs = new Dictionary<string, string> { ["outbox_id"] = m.Id.ToString() },
                }),
            ],
        };
        try
        {
            var response = await sendGrid.SendEmailAsync(mail, cancellationToken);
            var providerId = response.Headers.TryGetValues("X-Message-Id", out var ids)
                ? ids.FirstOrDefault()
                : null;
            return new(
                (int)response.StatusCode,
                providerId,
                $"SendGrid answered {(int)response.StatusCode}"
            );
        }
        catch (Exception e)
            when (e
                    is HttpRequestException
                        or TimeoutException
                        or Polly.Timeout.TimeoutRejectedException
                || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
            )
        {
            return new(null, null, $"SendGrid unreachable: {e.GetType().Name}");
        }
    }
}
