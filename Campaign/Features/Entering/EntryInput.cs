using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Campaign.Features.Entering;

/// <summary>
/// An entry as typed, normalised and checked. Normalisation comes first: Unicode NFKC turns a
/// full-width <c>＠</c> or digits typed on a Japanese keyboard into ASCII, then spaces are trimmed.
/// </summary>
public sealed record EntryInput(string Email, string DisplayName, string Locale, bool CampaignMail)
{
    public const int DisplayNameMax = 50;
    public const int EmailMax = 254;

    /// <summary>Either the normalised input or the errors, field by field, in the entrant's language.</summary>
    public static (EntryInput? Input, Dictionary<string, string[]> Errors) Check(
        string? email,
        string? displayName,
        bool? consent,
        bool? campaignMail,
        string locale
    )
    {
        var errors = new Dictionary<string, string[]>();
        var normalEmail = Normalize(email);
        var normalName = Normalize(displayName);

        if (CheckEmail(normalEmail, locale) is { } emailError)
            errors["email"] = [emailError];

        var length = new StringInfo(normalName).LengthInTextElements;
        if (length == 0)
            errors["displayName"] =
            [
                Language.Say(locale, "表示名を入力してください。", "Enter a display name."),
            ];
        else if (length > DisplayNameMax)
            errors["displayName"] =
            [
                Language.Say(
                    locale,
                    $"表示名は{DisplayNameMax}文字以内で入力してください（現在 {length} 文字）。",
                    $"Use at most {DisplayNameMax} characters for the display name (now {length})."
                ),
            ];
        else if (normalName.Any(IsForbidden) || HasLoneSurrogate(normalName))
            errors["displayName"] =
            [
                Language.Say(
                    locale,
                    "表示名に改行や制御文字は使えません。",
                    "The display name cannot contain line breaks or control characters."
                ),
            ];

        if (consent != true)
            errors["consent"] =
            [
                Language.Say(
                    locale,
                    "応募には利用規約とプライバシーポリシーへの同意が必要です。",
                    "You need to accept the terms and the privacy policy to enter."
                ),
            ];

        return errors.Count > 0
            ? (null, errors)
            : (new EntryInput(normalEmail, normalName, locale, campaignMail == true), errors);
    }

    /// <summary>The error for an address (already normalised), or null when it is a valid one.</summary>
    public static string? CheckEmail(string email, string locale) =>
        email.Length == 0
            ? Language.Say(
                locale,
                "メールアドレスを入力してください。",
                "Enter your e-mail address."
            )
        : IsOldMobileStyle(email)
            ? Language.Say(
                locale,
                "連続したドット（..）や @ の直前のドットを含むアドレスには、メールをお届けできません。別のアドレスをお使いください。",
                "Mail cannot be delivered to an address with two dots in a row (..) or a dot just before the @. Use another address."
            )
        : email.Length > EmailMax || !IsEmail(email)
            ? Language.Say(
                locale,
                "メールアドレスの形式が正しくありません（例: taro@example.jp）。",
                "This is not a valid e-mail address (e.g. taro@example.com)."
            )
        : null;

    /// <summary>Whether mail can go to an address at all (one stored before the rules, or imported).</summary>
    public static bool IsDeliverable(string email) => CheckEmail(email, Language.English) is null;

    /// <summary>
    /// The addresses Japanese mobile carriers handed out before 2009 (<c>taro..yamada@docomo.ne.jp</c>,
    /// <c>taro.@ezweb.ne.jp</c>) break RFC 5322, and mail services such as SendGrid refuse them.
    /// The policy is to refuse them at the door, with a reason, everywhere an address comes in (the
    /// form, the API, <c>import</c>); one that got in anyway is skipped by the nightly batch, and a
    /// refusal by SendGrid only splits its own batch (see MailRelay).
    /// </summary>
    public static bool IsOldMobileStyle(string email) =>
        email.Split('@')[0] is var local && (local.Contains("..") || local.EndsWith('.'));

    /// <summary>
    /// The longest text that is normalised. NFKC can make a text 18 times longer (U+FDFA becomes 18
    /// letters), so a longer one is left as it came: it is refused by the length checks that
    /// follow, which run on the normalised text.
    /// </summary>
    public const int NormalizedMax = 1024;

    public static string Normalize(string? text) =>
        text is { Length: > NormalizedMax } || HasLoneSurrogate(text)
            ? text!
            : (text ?? "").Normalize(NormalizationForm.FormKC).Trim();

    // Half of a surrogate pair (JSON can carry "\ud800"): no character at all, which NFKC refuses to
    // normalise and PostgreSQL refuses to store. Left as it came, it is refused as forbidden below.
    static bool HasLoneSurrogate(string? text)
    {
        for (var i = 0; i < text?.Length; i++)
            if (
                char.IsHighSurrogate(text[i])
                && i + 1 < text.Length
                && char.IsLowSurrogate(text[i + 1])
            )
                i++;
            else if (char.IsSurrogate(text[i]))
                return true;
        return false;
    }

    // The HTML form's rule for e-mail, plus a dot in the domain: plain ASCII, no spaces, no line
    // breaks (so no header injection), one @.
    static readonly Regex EmailPattern = new(
        @"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
        RegexOptions.CultureInvariant
    );

    static bool IsEmail(string value) =>
        EmailPattern.IsMatch(value) && !value.StartsWith('.') && !value.Contains("..");

    // Control characters, line and paragraph separators, and the bidirectional overrides that can
    // make a name display as something else. Zero-width joiners stay: emoji need them.
    static bool IsForbidden(char c) =>
        char.IsControl(c)
        || CharUnicodeInfo.GetUnicodeCategory(c)
            is UnicodeCategory.LineSeparator
                or UnicodeCategory.ParagraphSeparator
        || c is >= '\u202A' and <= '\u202E'
        || c is >= '\u2066' and <= '\u2069';
}
