using System.Net;
using Campaign.Features.Entering;
using Campaign.Mail;

namespace Campaign.Features.SignIn;

/// <summary>
/// The mail that confirms an entry and signs the entrant in (the same link does both). The token
/// travels in the URL fragment (<c>#token=...</c>): browsers never send a fragment to a server, so it
/// reaches neither the router's logs nor ours. It carries nothing that whoever typed the address
/// chose (no display name: anyone can enter anyone's address), and says why it came.
/// </summary>
public static class SignInMail
{
    public static Uri Link(Uri appBaseUrl, string token) =>
        new($"{appBaseUrl.ToString().TrimEnd('/')}/sign-in#token={token}");

    /// <summary>The placeholder for the recipient's link, in both parts (a link needs no escaping).</summary>
    public const string LinkPlaceholder = "-link-";

    /// <summary>One recipient's mail, as they receive it.</summary>
    public static RenderedMail Render(string locale, bool firstEntry, Uri link) =>
        Render(locale, firstEntry, link.ToString(), WebUtility.HtmlEncode(link.ToString()));

    static readonly System.Collections.Concurrent.ConcurrentDictionary<
        (string, bool),
        MailTemplate
    > Rendered = new();

    /// <summary>
    /// The mail of one language and kind with a placeholder for the link, rendered once
    /// per process: the relay then sends many recipients' sign-in mails in one SendGrid request.
    /// </summary>
    public static MailTemplate Template(string locale, bool firstEntry) =>
        Rendered.GetOrAdd(
            (locale == Language.English ? Language.English : Language.Japanese, firstEntry),
            key =>
                MailTemplate.Versioned(
                    $"sign-in:{key.Item1}:{(key.Item2 ? "entry" : "again")}",
                    Render(key.Item1, key.Item2, LinkPlaceholder, LinkPlaceholder),
                    DateTimeOffset.UtcNow
                )
        );

    /// <summary>Every sign-in template, stored before the first sign-in mail is written.</summary>
    public static IReadOnlyCollection<MailTemplate> Templates =>
        [
            .. new[] { Language.Japanese, Language.English }.SelectMany(locale =>
                new[] { true, false }.Select(first => Template(locale, first))
            ),
        ];

    /// <summary>One recipient's value for the placeholder.</summary>
    public static Dictionary<string, string> Substitutions(Uri link) =>
        new() { [LinkPlaceholder] = link.ToString() };

    /// <summary>
    /// An entrant's sign-in link (transactional mail) goes out while its entrant is there: one who
    /// withdrew meanwhile gets nothing. An operator's link has no entrant (operator mail, unchecked).
    /// </summary>
    public static readonly MailRules.Check StillWanted = MailRules.ToExistingEntrants<Entrant>();

    static RenderedMail Render(string locale, bool firstEntry, string linkText, string linkHtml)
    {
        var ja = locale != Language.English;
        var minutes = (int)SignInToken.Lifetime.TotalMinutes;
        var subject = (ja, firstEntry) switch
        {
            (true, true) => "【キャンペーン】ご応募ありがとうございます：応募を確定してください",
            (true, false) => "【キャンペーン】サインイン用のリンクです",
            (false, true) => "[Campaign] Thank you for entering: please confirm your entry",
            (false, false) => "[Campaign] Your sign-in link",
        };
        var lead = (ja, firstEntry) switch
        {
            (true, true) =>
                "キャンペーンへのご応募ありがとうございます。下のリンクから応募を確定してください。",
            (true, false) =>
                "サインインのご依頼を受け付けました。下のリンクからサインインしてください。",
            (false, true) =>
                "Thank you for entering the campaign. Use the link below to confirm your entry.",
            (false, false) => "We received a request to sign in. Use the link below to sign in.",
        };
        var why = ja
            ? "このメールは、キャンペーンのフォームに入力されたメールアドレスにお送りしています。"
            : "This mail goes to the address that was entered in the campaign's form.";
        var button = ja ? "サインインする" : "Sign in";
        var expiry = ja
            ? $"このリンクは{minutes}分間、1回だけ使えます。"
            : $"This link works once, for {minutes} minutes.";
        var ignore = ja
            ? "お心当たりのない場合は、このメールを破棄してください。"
            : "If you did not ask for this, you can ignore this mail.";
        var signature = ja ? "キャンペーン事務局" : "The Campaign team";

        var text = $"""
            {why}

            {lead}

            {linkText}

            {expiry}
            {ignore}

            --
            {signature}

            """;
        string H(string s) => WebUtility.HtmlEncode(s);
        var html = $"""
            <!DOCTYPE html>
            <html lang="{(ja ? "ja" : "en")}">
            <head><meta charset="utf-8"><title>{H(subject)}</title></head>
            <body style="font-family: sans-serif; line-height: 1.6; color: #212529;">
            <p>{H(why)}</p>
            <p>{H(lead)}</p>
            <p><a href="{linkHtml}" style="display: inline-block; padding: 0.5em 1.5em; background: #0d6efd; color: #fff; text-decoration: none; border-radius: 0.375rem;">{H(
                button
            )}</a></p>
            <p style="font-size: 0.9em;">{linkHtml}</p>
            <p style="font-size: 0.9em;">{H(expiry)}<br>{H(ignore)}</p>
            <p>{H(signature)}</p>
            </body>
            </html>

            """;
        return new RenderedMail(subject, html, text);
    }
}
