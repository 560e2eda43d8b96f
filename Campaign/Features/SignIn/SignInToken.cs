using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Marten;

namespace Campaign.Features.SignIn;

/// <summary>
/// A single-use sign-in link's secret. The token (32 random bytes, URL-safe) goes only into the
/// mail; the database keeps its SHA-256 hash as the document id, so a leaked database signs nobody in.
/// </summary>
public sealed class SignInToken
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(30);

    /// <summary>The hash of the token.</summary>
    public required string Id { get; set; }
    public Guid EntrantId { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    public DateTimeOffset? UsedAt { get; set; }

    /// <summary>Set for an operator's link (<see cref="Ops.Operators"/>); no entrant then.</summary>
    public string? OperatorKey { get; set; }

    public static (string Token, SignInToken Stored) Issue(Guid entrantId, DateTimeOffset now)
    {
        var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        return (
            token,
            new SignInToken
            {
                Id = Hash(token),
                EntrantId = entrantId,
                ExpiresAt = now + Lifetime,
            }
        );
    }

    public static (string Token, SignInToken Stored) IssueForOperator(
        string operatorKey,
        DateTimeOffset now
    )
    {
        var (token, stored) = Issue(Guid.Empty, now);
        stored.OperatorKey = operatorKey;
        return (token, stored);
    }

    /// <summary>A token as it could have been issued: 43 URL-safe characters.</summary>
    public static bool LooksValid(string? token) =>
        token is { Length: 43 } && token.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public static string Hash(string token) =>
        Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(token)));

    /// <summary>Marks the token used; false when it was used already or has expired.</summary>
    public bool TryUse(DateTimeOffset now)
    {
        if (UsedAt is not null || now >= ExpiresAt)
            return false;
        UsedAt = now;
        return true;
    }

    public static void Configure(StoreOptions options) =>
        options
            .Schema.For<SignInToken>()
            // Two requests racing with one token: the second save fails, so the token is used once.
            .UseOptimisticConcurrency(true)
            // Withdrawal, export and the purges find an entrant's links without a scan.
            .Index(x => x.EntrantId);
}
