using Microsoft.AspNetCore.Http.HttpResults;

namespace Campaign.Features;

/// <summary>
/// The API's errors, as RFC 9457 problem details (<c>application/problem+json</c>) with a stable
/// <c>type</c> that clients can branch on and a <c>detail</c> in the caller's language.
/// https://www.rfc-editor.org/rfc/rfc9457
/// </summary>
public static class Problems
{
    public static ProblemHttpResult Validation(
        Dictionary<string, string[]> errors,
        string locale
    ) =>
        TypedResults.Problem(
            new HttpValidationProblemDetails(errors)
            {
                Type = Type("validation"),
                Title = "Validation failed",
                Status = StatusCodes.Status422UnprocessableEntity,
                Detail = Language.Say(
                    locale,
                    "入力内容を確認してください。",
                    "Please check what you entered."
                ),
            }
        );

    public static ProblemHttpResult CampaignClosed(string locale) =>
        Problem(
            StatusCodes.Status409Conflict,
            "campaign-closed",
            "Campaign closed",
            Language.Say(
                locale,
                "キャンペーンの応募期間外です。",
                "The campaign is not open for entries."
            )
        );

    /// <summary>Before the campaign opens: the same 409 as a closed one, saying when it opens.</summary>
    public static ProblemHttpResult CampaignNotYetOpen(string locale, string opens) =>
        Problem(
            StatusCodes.Status409Conflict,
            "campaign-not-yet-open",
            "Campaign not yet open",
            Language.Say(
                locale,
                $"キャンペーンの応募は {opens}から受け付けます。",
                $"Entries open on {opens}."
            )
        );

    /// <summary>
    /// An entry whose mail cannot go now (the mailbox had its share, or the hour's budget of mail to
    /// unconfirmed addresses is spent): nothing was saved. The caller sets Retry-After.
    /// </summary>
    public static ProblemHttpResult TooManyMails(string locale, int retryAfterSeconds) =>
        Problem(
            StatusCodes.Status429TooManyRequests,
            "too-many-mails",
            "Too many mails",
            Language.Say(
                locale,
                $"ただいまこのアドレスにはメールをお送りできません。{(retryAfterSeconds + 59) / 60}分ほど後にもう一度お試しください。入力した内容は保存されていません。",
                $"We cannot send mail to this address right now. Try again in about {(retryAfterSeconds + 59) / 60} minutes. Nothing you entered was saved."
            )
        );

    public static ProblemHttpResult TokenInvalid(string locale) =>
        Problem(
            StatusCodes.Status400BadRequest,
            "sign-in-token-invalid",
            "Sign-in link not valid",
            Language.Say(
                locale,
                "このリンクは無効か、使用済みか、期限切れです。新しいリンクを請求してください。",
                "This link is unknown, already used or expired. Ask for a new one."
            )
        );

    public static ProblemHttpResult NotSignedIn(string locale) =>
        Problem(
            StatusCodes.Status401Unauthorized,
            "not-signed-in",
            "Not signed in",
            Language.Say(locale, "サインインが必要です。", "You need to sign in.")
        );

    public static ProblemHttpResult Problem(int status, string type, string title, string detail) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, type: Type(type));

    public static string Type(string name) => $"/problems/{name}";
}
