using System.Buffers.Binary;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Marten;
using Microsoft.AspNetCore.DataProtection;

namespace Campaign.Features.SignIn;

/// <summary>
/// A used sign-in link. A link's token is made by <see cref="Issuer"/> and stored nowhere (an entry
/// writes one row less); its single use is recorded when it is used: a row whose id is the token's
/// SHA-256 hash, inserted with the sign-in, so a second use meets the first one's row and fails.
/// </summary>
public sealed class SignInToken
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);

    /// <summary>The hash of the token.</summary>
    public required string Id { get; set; }
    public Guid EntrantId { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset UsedAt { get; set; }

    /// <summary>The record of a token's use, to insert with the sign-in.</summary>
    public static SignInToken Used(string token, Link link, DateTimeOffset now) =>
        new()
        {
            Id = Hash(token),
            EntrantId = link.EntrantId,
            ExpiresAt = link.ExpiresAt,
            UsedAt = now,
        };

    /// <summary>A token as one could have been issued: URL-safe characters, of a sealed link's length.</summary>
    public static bool LooksValid(string? token) =>
        token is { Length: >= 100 and <= 400 }
        && token.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public static string Hash(string token) =>
        Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(token)));

    /// <summary>What a token says: whom it signs in, until when.</summary>
    public readonly record struct Link(Guid EntrantId, DateTimeOffset ExpiresAt);

    /// <summary>
    /// Makes and reads tokens: the entrant's id, the expiry and 16 random bytes, sealed (encrypted
    /// and authenticated) by ASP.NET Data Protection with the keys every dyno shares in Redis. A
    /// leaked database signs nobody in: it holds no key and only hashes of used tokens. If Redis
    /// loses the keys, the links already mailed stop working and their owners ask for new ones.
    /// </summary>
    public sealed class Issuer(IDataProtectionProvider protection)
    {
        const int Size = 16 + 8 + 16;
        readonly IDataProtector protector = protection.CreateProtector("Campaign.SignInLink");

        public string Issue(Guid entrantId, DateTimeOffset expiresAt)
        {
            var link = new byte[Size];
            entrantId.TryWriteBytes(link.AsSpan(0, 16));
            BinaryPrimitives.WriteInt64BigEndian(
                link.AsSpan(16, 8),
                expiresAt.ToUnixTimeMilliseconds()
            );
            RandomNumberGenerator.Fill(link.AsSpan(24));
            return Base64Url.EncodeToString(protector.Protect(link));
        }

        /// <summary>The link a token seals, or null for one that was not made here or was altered.</summary>
        public Link? Read(string token)
        {
            try
            {
                var link = protector.Unprotect(Base64Url.DecodeFromChars(token));
                if (link.Length != Size)
                    return null;
                return new Link(
                    new Guid(link.AsSpan(0, 16)),
                    DateTimeOffset.FromUnixTimeMilliseconds(
                        BinaryPrimitives.ReadInt64BigEndian(link.AsSpan(16, 8))
                    )
                );
            }
            catch (Exception e) when (e is CryptographicException or FormatException)
            {
                return null;
            }
        }
    }

    public static void Configure(StoreOptions options) => options.Schema.For<SignInToken>();
}
