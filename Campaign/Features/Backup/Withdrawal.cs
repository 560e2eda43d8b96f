using System.Security.Cryptography;
using System.Text;
using Marten;

namespace Campaign.Features.Backup;

/// <summary>
/// What is left of a withdrawn entrant: the hash of their address and when they left, nothing that
/// names them. It keeps a restore (of a backup or an export made before they left) from bringing
/// them back.
/// </summary>
public sealed class Withdrawal
{
    /// <summary>SHA-256 of the lower-cased address (<see cref="Mail.Mailbox.AddressKey"/>).</summary>
    public required string Id { get; set; }
    public DateTimeOffset WithdrawnAt { get; set; }

    public static string IdOf(string email) =>
        Convert.ToHexStringLower(
            SHA256.HashData(Encoding.UTF8.GetBytes(Mail.Mailbox.AddressKey(email)))
        );

    public static void Configure(StoreOptions options) => options.Schema.For<Withdrawal>();
}
