using Campaign.Pages;
using Campaign.Platform;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Campaign.Features.Entering;

/// <summary>
/// Entering the campaign: <c>POST /api/v1/entries</c> and the <c>/signup</c> form. A new address
/// becomes a pending entrant; an address already entered gets a sign-in link instead, and from
/// outside both look the same (nobody can find out who entered). The entrant, the token and the
/// mail are written in one transaction, together with the other entries arriving at the same time
/// (<see cref="EntryBatches"/>); the mail leaves after the commit.
/// </summary>
public static class SubmitEntry
{
    /// <summary>The entry as a client sends it. Missing fields are answered by validation (422).</summary>
    public sealed record EntryRequest(
        string Email,
        string DisplayName,
        bool Consent,
        string? Locale = null,
        bool CampaignMail = false
    );

    public sealed record Receipt(string Message);

    /// <summary>What became of an entry; <see cref="RetryAfterSeconds"/> for <see cref="Kind.TooManyMails"/>.</summary>
    public sealed record Outcome(Outcome.Kind Is, int RetryAfterSeconds = 0)
    {
        public enum Kind
        {
            Accepted,
            NotYetOpen,
            Closed,
            TooManyMails,
        }

        public static readonly Outcome Accepted = new(Kind.Accepted);
        public static readonly Outcome NotYetOpen = new(Kind.NotYetOpen);
        public static readonly Outcome Closed = new(Kind.Closed);
    }

    public static async Task<Results<Accepted<Receipt>, ProblemHttpResult>> Handle(
        EntryRequest request,
        HttpContext http,
        Settings settings,
        EntryBatches batches,
        Metrics metrics
    )
    {
        var locale = Language.Parse(request.Locale) ?? Language.Of(http);
        var (input, errors) = EntryInput.Check(
            request.Email,
            request.DisplayName,
            request.Consent,
            request.CampaignMail,
            locale
        );
        if (input is null)
        {
            metrics.Count("campaign.entries_invalid");
            return Problems.Validation(errors, locale);
        }

        var outcome = await batches.Enter(input);
        return outcome.Is switch
        {
            Outcome.Kind.NotYetOpen => Problems.CampaignNotYetOpen(locale, Opens(settings, locale)),
            Outcome.Kind.Closed => Problems.CampaignClosed(locale),
            Outcome.Kind.TooManyMails => WithRetryAfter(
                http,
                outcome,
                Problems.TooManyMails(locale, outcome.RetryAfterSeconds)
            ),
            _ => TypedResults.Accepted(
                (string?)null,
                new Receipt(
                    Language.Say(
                        locale,
                        "受け付けました。メールに届くリンクから応募を確定してください。",
                        "Received. Confirm your entry with the link in the mail we send you."
                    )
                )
            ),
        };
    }

    /// <summary>The <c>/signup</c> form's fields (checkboxes send <c>true</c> when ticked, nothing otherwise).</summary>
    public sealed record EntryForm
    {
        public string? Email { get; init; }
        public string? DisplayName { get; init; }
        public bool Consent { get; init; }
        public bool CampaignMail { get; init; }
    }

    public static RazorComponentResult<SignupPage> ShowForm(
        HttpContext http,
        Settings settings,
        TimeProvider clock
    )
    {
        var (locale, now) = (Language.Of(http), clock.GetUtcNow());
        return Page.Show<SignupPage>(
            new
            {
                Locale = locale,
                Open = GetCampaign.IsOpen(settings.Campaign, now),
                Opens = settings.Campaign.StartsAt > now ? Opens(settings, locale) : null,
            }
        );
    }

    public static async Task<IResult> HandleForm(
        [FromForm] EntryForm? form,
        HttpContext http,
        Settings settings,
        EntryBatches batches,
        Metrics metrics
    )
    {
        // A post without any field (only the anti-forgery token) binds no form at all.
        form ??= new EntryForm();
        var locale = Language.Of(http);
        var (input, errors) = EntryInput.Check(
            form.Email,
            form.DisplayName,
            form.Consent,
            form.CampaignMail,
            locale
        );
        if (input is null)
        {
            metrics.Count("campaign.entries_invalid");
            return Page.Show<SignupPage>(
                new
                {
                    Locale = locale,
                    form.Email,
                    form.DisplayName,
                    form.CampaignMail,
                    Errors = errors,
                },
                StatusCodes.Status422UnprocessableEntity
            );
        }
        var outcome = await batches.Enter(input);
        return outcome.Is switch
        {
            Outcome.Kind.NotYetOpen => Page.Show<SignupPage>(
                new
                {
                    Locale = locale,
                    Open = false,
                    Opens = Opens(settings, locale),
                },
                StatusCodes.Status409Conflict
            ),
            Outcome.Kind.Closed => Page.Show<SignupPage>(
                new { Locale = locale, Open = false },
                StatusCodes.Status409Conflict
            ),
            Outcome.Kind.TooManyMails => WithRetryAfter(
                http,
                outcome,
                Page.Show<SignupPage>(
                    new
                    {
                        Locale = locale,
                        form.Email,
                        form.DisplayName,
                        form.CampaignMail,
                        Errors = new Dictionary<string, string[]>
                        {
                            ["email"] =
                            [
                                (string)
                                    Problems
                                        .TooManyMails(locale, outcome.RetryAfterSeconds)
                                        .ProblemDetails.Detail!,
                            ],
                        },
                    },
                    StatusCodes.Status429TooManyRequests
                )
            ),
            _ => Page.SeeOther("/signup/sent"),
        };
    }

    static string Opens(Settings settings, string locale) =>
        Pages.CampaignText.Opens(
            settings.Campaign.StartsAt!.Value,
            settings.Campaign.TimeZone,
            locale
        );

    public static RazorComponentResult<MessagePage> ShowSent(HttpContext http)
    {
        var locale = Language.Of(http);
        var minutes = SignIn.SignInToken.Lifetime.TotalMinutes;
        return Page.Show<MessagePage>(
            new
            {
                Locale = locale,
                Title = Language.Say(locale, "メールをご確認ください", "Check your inbox"),
                Lines = new[]
                {
                    Language.Say(
                        locale,
                        "ご応募を受け付けました。入力したアドレスにメールをお送りします。",
                        "We received your entry and are sending a mail to the address you gave."
                    ),
                    Language.Say(
                        locale,
                        $"メールのリンクを開くと応募が確定します。リンクは{minutes}分間有効です。",
                        $"Open the link in it to confirm your entry. The link works for {minutes} minutes."
                    ),
                },
                Here = "/signup/sent",
            }
        );
    }

    static T WithRetryAfter<T>(HttpContext http, Outcome outcome, T result)
    {
        http.Response.Headers.RetryAfter = outcome.RetryAfterSeconds.ToString();
        return result;
    }
}
