namespace Campaign.Mail;

/// <summary>
/// The two keys of an e-mail address, defined here once. <see cref="AddressKey"/> is the address in
/// lower case: an entrant is one address (as typed, in any case), and so is a withdrawal's record.
/// <see cref="Key"/> is the mailbox it reaches: variants that land in one inbox (<c>taro+1@</c>,
/// <c>taro+2@</c> everywhere; <c>t.a.r.o@gmail.com</c>) share it, so that the cap on mail per
/// address and the lock that counts it hold per inbox, not per spelling.
/// </summary>
public static class Mailbox
{
    public static string AddressKey(string email) => email.ToLowerInvariant();

    /// <summary>Domains that ignore dots in the local part, and their canonical name.</summary>
    static readonly Dictionary<string, string> DotBlind = new()
    {
        ["gmail.com"] = "gmail.com",
        ["googlemail.com"] = "gmail.com",
    };

    public static string Key(string email)
    {
        var address = AddressKey(email);
        var at = address.LastIndexOf('@');
        if (at <= 0)
            return address;
        var (local, domain) = (address[..at], address[(at + 1)..]);
        var plus = local.IndexOf('+');
        if (plus > 0)
            local = local[..plus];
        if (DotBlind.TryGetValue(domain, out var canonical))
            (local, domain) = (local.Replace(".", ""), canonical);
        return $"{local}@{domain}";
    }

    /// <summary>The domain mail to the address goes to (for the hourly budgets per domain).</summary>
    public static string Domain(string email)
    {
        var key = Key(email);
        return key[(key.LastIndexOf('@') + 1)..];
    }
}
