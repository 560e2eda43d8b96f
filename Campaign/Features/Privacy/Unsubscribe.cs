using Campaign.Features.Entering;
using Campaign.Pages;
using Marten;
using Microsoft.AspNetCore.DataProtection;

namespace Campaign.Features.Privacy;

/// <summary>
/// Stopping campaign mail, without signing in: every campaign mail carries a link and the
/// one-click <c>List-Unsubscribe</c> headers (RFC 8058) with a token that names its entrant. The GET
/// shows a button (mail scanners open links, and must not unsubscribe anyone); the POST, from that
/// button or straight from the mailbox provider, takes effect at once, so the next batch skips
/// the entrant, and any reminder already queued is dropped at send time.
/// </summary>
public static class Unsubscribe
{
    // The links of mails sent before the links were signed with UnsubscribeKey: they still work.
    const string Purpose = "Campaign.Unsubscribe";

    static async Task<Guid?> EntrantOf(
        UnsubscribeKey.Store keys,
        IDataProtectionProvider protection,
        string token,
        CancellationToken cancellationToken
    )
    {
        if (UnsubscribeKey.EntrantOf(await keys.Current(cancellationToken), token) is { } id)
            return id;
        try
        {
            return Guid.TryParseExact(
                protection.CreateProtector(Purpose).Unprotect(token),
                "N",
                out var old
            )
                ? old
                : null;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    public static async Task<IResult> Show(
        string token,
        HttpContext http,
        UnsubscribeKey.Store keys,
        IDataProtectionProvider protection,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        return await EntrantOf(keys, protection, token, cancellationToken) is null
            ? Invalid(locale)
            : Page.Show<UnsubscribePage>(new { Locale = locale, Token = token });
    }

    public static async Task<IResult> Confirm(
        string token,
        HttpContext http,
        UnsubscribeKey.Store keys,
        IDataProtectionProvider protection,
        IDocumentSession session,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        if (await EntrantOf(keys, protection, token, cancellationToken) is not { } id)
            return Invalid(locale);
        if (
            await session.LoadAsync<Entrant>(id, cancellationToken) is
            { CampaignMail: true } entrant
        )
        {
            entrant.CampaignMail = false;
            session.Update(entrant);
            session.Store(Unsubscription.Of(entrant.Email, clock.GetUtcNow()));
            await session.SaveChangesAsync(cancellationToken);
        }
        return Page.Show<MessagePage>(
            new
            {
                Locale = locale,
                Title = Language.Say(locale, "配信を停止しました", "You are unsubscribed"),
                Lines = new[]
                {
                    Language.Say(
                        locale,
                        "キャンペーンのお知らせメールは、今後お送りしません。サインイン用のメールなど、お手続きのメールは引き続き届きます。",
                        "We will send you no more campaign news. Mails you ask for, such as sign-in links, still arrive."
                    ),
                },
            }
        );
    }

    static IResult Invalid(string locale) =>
        Page.Show<MessagePage>(
            new
            {
                Locale = locale,
                Title = Language.Say(locale, "リンクが正しくありません", "This link is not valid"),
                Lines = new[]
                {
                    Language.Say(
                        locale,
                        "メールのリンクを最後までコピーしたかご確認ください。マイページからも配信を停止できます。",
                        "Check that you copied the whole link from the mail. You can also stop campaign mail on your page."
                    ),
                },
                Kind = "warning",
                LinkHref = "/me",
                LinkText = Language.Say(locale, "マイページへ", "To my page"),
            },
            StatusCodes.Status400BadRequest
        );
}

/// <summary>
/// That an address stopped campaign mail, and when: the hash of the address only, like a
/// withdrawal's record. A restore (<c>import</c>) of an export made before then keeps the mail
/// stopped; the campaign's purge deletes it with everything else.
/// </summary>
public sealed class Unsubscription
{
    /// <summary>SHA-256 of the lower-cased address (<see cref="Backup.Withdrawal.IdOf"/>).</summary>
    public required string Id { get; set; }
    public DateTimeOffset At { get; set; }

    public static Unsubscription Of(string email, DateTimeOffset now) =>
        new() { Id = Backup.Withdrawal.IdOf(email), At = now };

    /// <summary>Whether it came after the entry was made (an entry made later chose again).</summary>
    public bool Overrides(Entrant entrant) => At >= entrant.CreatedAt;

    public static void Configure(StoreOptions options) => options.Schema.For<Unsubscription>();
}
