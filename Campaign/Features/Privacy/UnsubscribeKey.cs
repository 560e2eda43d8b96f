using System.Buffers.Text;
using System.Security.Cryptography;
using JasperFx;
using Marten;

namespace Campaign.Features.Privacy;

/// <summary>
/// The key that signs unsubscribe links: made once, at random, and kept in PostgreSQL with the
/// entrants, so that a link works for as long as its entrant is there, from any dyno, even if
/// Redis (which holds the data-protection keys) is emptied. A link's token is the entrant's id and
/// an HMAC of it, 43 URL-safe characters: signing 100,000 of them for a night's batch takes
/// milliseconds.
/// </summary>
public sealed class UnsubscribeKey
{
    const string TheKey = "unsubscribe";
    const int IdLength = 16;
    const int MacLength = 16;

    public string Id { get; set; } = TheKey;
    public required byte[] Secret { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    public static string TokenFor(byte[] secret, Guid entrantId)
    {
        Span<byte> token = stackalloc byte[IdLength + MacLength];
        entrantId.TryWriteBytes(token[..IdLength]);
        Sign(secret, token[..IdLength], token[IdLength..]);
        return Base64Url.EncodeToString(token);
    }

    /// <summary>The entrant a token names, when it was signed with this secret; else null.</summary>
    public static Guid? EntrantOf(byte[] secret, string token)
    {
        Span<byte> bytes = stackalloc byte[IdLength + MacLength + 3];
        if (
            token.Length != 43
            || !Base64Url.TryDecodeFromChars(token, bytes, out var written)
            || written != IdLength + MacLength
        )
            return null;
        Span<byte> expected = stackalloc byte[MacLength];
        Sign(secret, bytes[..IdLength], expected);
        return CryptographicOperations.FixedTimeEquals(expected, bytes[IdLength..written])
            ? new Guid(bytes[..IdLength])
            : null;
    }

    static void Sign(byte[] secret, ReadOnlySpan<byte> id, Span<byte> mac)
    {
        Span<byte> full = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(secret, id, full);
        full[..mac.Length].CopyTo(mac);
    }

    public static void Configure(StoreOptions options) => options.Schema.For<UnsubscribeKey>();

    /// <summary>Reads the key once per process, and makes it the first time one is needed.</summary>
    public sealed class Store(IDocumentStore store, TimeProvider clock)
    {
        readonly SemaphoreSlim loading = new(1);
        byte[]? secret;

        public async ValueTask<byte[]> Current(CancellationToken cancellationToken)
        {
            if (secret is { } known)
                return known;
            await loading.WaitAsync(cancellationToken);
            try
            {
                return secret ??= await LoadOrMake(cancellationToken);
            }
            finally
            {
                loading.Release();
            }
        }

        async Task<byte[]> LoadOrMake(CancellationToken cancellationToken)
        {
            await using var session = store.LightweightSession();
            if (await session.LoadAsync<UnsubscribeKey>(TheKey, cancellationToken) is { } stored)
                return stored.Secret;
            session.Insert(
                new UnsubscribeKey
                {
                    Secret = RandomNumberGenerator.GetBytes(32),
                    CreatedAt = clock.GetUtcNow(),
                }
            );
            try
            {
                await session.SaveChangesAsync(cancellationToken);
            }
            catch (DocumentAlreadyExistsException)
            {
                // Another process made it first: theirs is the key.
            }
            await using var query = store.QuerySession();
            return (await query.LoadAsync<UnsubscribeKey>(TheKey, cancellationToken))!.Secret;
        }
    }
}
