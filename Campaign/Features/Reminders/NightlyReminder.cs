using System.Net;
using Campaign.Features.Entering;
using Campaign.Mail;
using Campaign.Platform;
using Marten;

namespace Campaign.Features.Reminders;

/// <summary>
/// The nightly reminder's rules, as pure functions: which night it is in the campaign's time zone
/// (dynos run in UTC), whether tonight's run is due, who qualifies, and the mail itself.
/// </summary>
public static class NightlyReminder
{
    /// <summary>The campaign-local date and whether its send time has passed.</summary>
    public static (DateOnly Night, bool PastSendTime) Tonight(DateTimeOffset now, Settings settings)
    {
        var local = TimeZoneInfo.ConvertTime(now, settings.Campaign.TimeZone);
        return (
            DateOnly.FromDateTime(local.DateTime),
            TimeOnly.FromDateTime(local.DateTime) >= settings.Nightly.SendAt
        );
    }

    /// <summary>The night's send time as an instant (20:00 JST is 11:00 UTC).</summary>
    public static DateTimeOffset SendTimeOf(DateOnly night, Settings settings)
    {
        var local = night.ToDateTime(settings.Nightly.SendAt);
        return new DateTimeOffset(local, settings.Campaign.TimeZone.GetUtcOffset(local));
    }

    /// <summary>
    /// Confirmed, no photo yet, asked for campaign mail when entering (and has not unsubscribed),
    /// and an address mail can go to: one that breaks the rules never reaches a batch.
    /// </summary>
    public static bool Qualifies(Entrant entrant) =>
        entrant is { Status: EntrantStatus.Confirmed, Photo: null, CampaignMail: true }
        && EntryInput.IsDeliverable(entrant.Email);

    /// <summary>
    /// Checked again when the reminder's turn comes (campaign mail): one whose entrant withdrew, or
    /// no longer qualifies (a photo added, campaign mail turned off, since the night's run), is dropped.
    /// </summary>
    public static readonly MailRules.Check StillWanted = MailRules.ToEntrants<Entrant>(
        e => e.Id,
        e => Qualifies(e) ? null : "entrant no longer qualifies"
    );

    /// <summary>
    /// The same rule in SQL (but the address, checked by <see cref="Qualifies"/>), one page at a time in id order (keyset paging: never all entrants in
    /// memory, and each page starts where the last one ended).
    /// </summary>
    public static Task<IReadOnlyList<Entrant>> QualifyingPage(
        IQuerySession session,
        Guid after,
        int size,
        CancellationToken cancellationToken
    ) =>
        session.QueryAsync<Entrant>(
            """
            where d.data ->> 'status' = 'Confirmed'
              and coalesce(d.data -> 'photo', 'null'::jsonb) = 'null'::jsonb
              and (d.data ->> 'campaignMail')::boolean
              and d.id > ?
            order by d.id
            limit ?
            """,
            cancellationToken,
            after,
            size
        );

    public static string DedupKey(DateOnly night, Guid entrantId) =>
        $"reminder:{night:yyyy-MM-dd}:{entrantId}";

    /// <summary>The night's reminder in each language, rendered once and stored once.</summary>
    public static IReadOnlyDictionary<string, MailTemplate> Templates(
        DateOnly night,
        Settings settings,
        DateTimeOffset now
    )
    {
        var myPage = new Uri(settings.AppBaseUrl, "/me");
        return new[] { Language.Japanese, Language.English }.ToDictionary(
            locale => locale,
            locale =>
                MailTemplate.Of(
                    $"reminder:{night:yyyy-MM-dd}:{locale}",
                    Render(locale, myPage, settings),
                    now
                )
        );
    }

    /// <summary>One entrant's reminder: the template of their language, with their values.</summary>
    public static OutboxMessage Message(
        Entrant entrant,
        DateOnly night,
        IReadOnlyDictionary<string, MailTemplate> templates,
        Settings settings,
        DateTimeOffset now,
        Uri unsubscribe
    ) =>
        OutboxMessage.Of(
            templates[entrant.Locale == Language.English ? Language.English : Language.Japanese],
            DedupKey(night, entrant.Id),
            entrant.Id,
            entrant.Email,
            now,
            // A reminder not sent by the next morning is dropped, not sent late.
            expiresAt: SendTimeOf(night, settings).AddHours(12),
            MailKind.Campaign,
            Substitutions(entrant.DisplayName, unsubscribe),
            // One-click unsubscribe for mailbox providers (RFC 8058), required of bulk senders.
            headers: new()
            {
                ["List-Unsubscribe"] = $"<{unsubscribe}>",
                ["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click",
            }
        );

    /// <summary>Each recipient's values for the placeholders: as typed in text, escaped in HTML.</summary>
    public static Dictionary<string, string> Substitutions(string displayName, Uri unsubscribe) =>
        new()
        {
            [NameInText] = displayName,
            [NameInHtml] = WebUtility.HtmlEncode(displayName),
            [UnsubscribeLink] = unsubscribe.ToString(),
        };

    public const string NameInText = MailTemplate.NameInText;
    public const string NameInHtml = MailTemplate.NameInHtml;
    public const string UnsubscribeLink = "-unsubscribe-";

    /// <summary>
    /// The reminder of one language, with the entrant's name as a placeholder. It links to /me, not
    /// to a sign-in token (those last 30 minutes): a signed-out entrant asks there for a fresh link.
    /// </summary>
    public static RenderedMail Render(string locale, Uri myPage, Settings settings)
    {
        var sender = settings.Mail.From;
        var ja = locale != Language.English;
        var subject = ja
            ? "【キャンペーン】プロフィール写真を登録して応募を完了しましょう"
            : "[Campaign] Add your profile photo to complete your entry";
        var lead = ja
            ? "ご応募ありがとうございます。抽選の対象になるには、マイページでプロフィール写真の登録が必要です。"
            : "Thank you for entering. To take part in the draw, add a profile photo on your page.";
        var why = ja
            ? "このメールは、応募時にキャンペーンのお知らせを希望された方にお送りしています。"
            : "You get this mail because you asked for campaign news when you entered.";
        var signature = ja ? "キャンペーン事務局" : "The Campaign team";
        // 特定電子メール法: who sends, where they are, how to reach them, and how to stop these mails.
        // https://www.dekyo.or.jp/soudan/contents/taisaku/1-2.html
        var postal = settings.Mail.SenderPostalAddress is { } address
            ? (ja ? $"\n住所: {address}" : $"\nAddress: {address}")
            : "";
        var senderLine = ja
            ? $"送信者: {sender.DisplayName}（{sender.Address}）{postal}\nお問い合わせ: {settings.AppBaseUrl}"
            : $"Sender: {sender.DisplayName} ({sender.Address}){postal}\nContact: {settings.AppBaseUrl}";
        var stop = ja
            ? "今後このお知らせが不要な方は、こちらから配信を停止できます:"
            : "To stop these mails, unsubscribe here:";
        string Greeting(string name) => ja ? $"{name} 様" : $"Hello {name},";
        var text = $"""
            {Greeting(NameInText)}

            {lead}

            {myPage}

            {why}
            {stop}
            {UnsubscribeLink}

            --
            {signature}
            {senderLine}

            """;
        string H(string s) => WebUtility.HtmlEncode(s);
        var html = $"""
            <!DOCTYPE html>
            <html lang="{(ja ? "ja" : "en")}">
            <head><meta charset="utf-8"><title>{H(subject)}</title></head>
            <body style="font-family: sans-serif; line-height: 1.6; color: #212529;">
            <p>{Greeting(NameInHtml)}</p>
            <p>{H(lead)}</p>
            <p><a href="{H(myPage.ToString())}">{H(myPage.ToString())}</a></p>
            <p style="font-size: 0.9em;">{H(why)}<br>{H(
                stop
            )} <a href="{UnsubscribeLink}">{UnsubscribeLink}</a></p>
            <p>{H(signature)}<br><span style="font-size: 0.9em;">{H(senderLine).Replace(
                "\n",
                "<br>"
            )}</span></p>
            </body>
            </html>

            """;
        return new RenderedMail(subject, html, text);
    }
}
