using Campaign.Mail;
using Campaign.Pages;
using StackExchange.Redis;

namespace Campaign.Features;

/// <summary>
/// <c>/dev/mail</c>, Development only: the mails the app "sent" without a SendGrid key, newest
/// first, as the local mailbox (<see cref="DevMailbox"/>) keeps them.
/// </summary>
public static class ShowDevMailbox
{
    public static async Task<IResult> Page(HttpContext http, IConnectionMultiplexer redis) =>
        Campaign.Pages.Page.Show<DevMailPage>(
            new { Locale = Language.Of(http), Mails = await DevMailbox.Latest(redis) }
        );
}
