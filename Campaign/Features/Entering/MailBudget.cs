using System.Security.Cryptography;
using System.Text;
using Campaign.Mail;
using Campaign.Platform;

namespace Campaign.Features.Entering;

/// <summary>
/// Hourly budgets of mail to addresses that nobody has confirmed yet: anyone can type any address
/// into the entry form, so the mail that form sends is bounded per recipient domain
/// (<c>UNCONFIRMED_MAIL_PER_DOMAIN_PER_HOUR</c>) and in all (<c>UNCONFIRMED_MAIL_PER_HOUR</c>). The
/// per-mailbox cap (<see cref="AddressLock.MailsPerWindow"/>) protects one inbox; this protects
/// a domain whose every address reaches one inbox (a catch-all), and the sender's reputation. Big
/// public mail services give no one a catch-all, so they count only in the total: a crowd of
/// strangers at gmail.com cannot spend a budget that real entrants at gmail.com need. Counted in
/// Redis across dynos; while Redis fails, per process (<see cref="Counters"/>).
/// </summary>
public sealed class MailBudget(Counters counters, Settings settings, TimeProvider clock)
{
    static readonly HashSet<string> PublicServices =
    [
        "gmail.com",
        "yahoo.co.jp",
        "ymail.ne.jp",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "outlook.com",
        "outlook.jp",
        "hotmail.com",
        "hotmail.co.jp",
        "live.jp",
        "docomo.ne.jp",
        "ezweb.ne.jp",
        "au.com",
        "softbank.ne.jp",
        "i.softbank.jp",
    ];

    /// <summary>Takes one mail from the budgets of the hour; false when one of them is spent.</summary>
    public async Task<bool> TryTake(string email) => (await TryTakeEach([email]))[0];

    /// <summary>
    /// <see cref="TryTake"/> for each address in turn, in one round trip to Redis (the entries of
    /// one batch): whether each got its mail.
    /// </summary>
    public Task<bool[]> TryTakeEach(IReadOnlyList<string> emails)
    {
        var hour = $"mail-budget:{clock.GetUtcNow():yyyyMMddHH}";
        (string, long) all = ($"{hour}:all", settings.MailBudget.AllPerHour);
        return counters.TakeEach(
            [
                .. emails
                    .Select(email => Mailbox.Domain(email))
                    .Select(domain =>
                        (IReadOnlyList<(string, long)>)(
                            PublicServices.Contains(domain)
                                ? [all]
                                :
                                [
                                    all,
                                    (
                                        $"{hour}:domain:{Hashed(domain)}",
                                        settings.MailBudget.PerDomainPerHour
                                    ),
                                ]
                        )
                    ),
            ],
            TimeSpan.FromMinutes(65)
        );
    }

    /// <summary>Seconds until the next hour's budgets.</summary>
    public int RetryAfterSeconds()
    {
        var now = clock.GetUtcNow();
        return 3600 - (now.Minute * 60 + now.Second);
    }

    // A domain can be a person's own: Redis keeps only its hash.
    static string Hashed(string domain) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(domain)))[..16];
}
