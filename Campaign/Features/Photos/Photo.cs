using Marten;

namespace Campaign.Features.Photos;

/// <summary>An entrant's profile photo: an object in the private bucket, verified before attaching.</summary>
public sealed record Photo(string Key, string ContentType, long Bytes, DateTimeOffset AttachedAt);

/// <summary>
/// A presigned upload the app handed out: the key it chose, for whom, for which type, until when.
/// Only a key recorded here can be attached, by its entrant, once. S3-compatible servers do not all
/// enforce the POST policy, so the app checks all of this itself.
/// </summary>
public sealed class PhotoUpload
{
    /// <summary>The object key.</summary>
    public required string Id { get; set; }
    public Guid EntrantId { get; set; }
    public required string ContentType { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }

    /// <summary>
    /// When it was attached or refused: a signature is used once. The record stays until the
    /// signature has expired, so that the clock's sweep deletes whatever is posted to its key after.
    /// </summary>
    public DateTimeOffset? UsedAt { get; set; }

    public static void Configure(StoreOptions options) =>
        options
            .Schema.For<PhotoUpload>()
            .Duplicate(x => x.ExpiresAt, pgType: "timestamptz")
            // Withdrawal, export and the purges find an entrant's uploads without a scan.
            .Index(x => x.EntrantId);
}

/// <summary>What a photo may be, and how each kind of image begins.</summary>
public static class PhotoRules
{
    public const long MaxBytes = 5 * 1024 * 1024;

    /// <summary>The longest side, in pixels, of the picture the page sends (it scales it down).</summary>
    public const int MaxSide = 1600;
    public static readonly TimeSpan SignatureLifetime = TimeSpan.FromMinutes(5);

    /// <summary>How long after its signature expired an upload may still be attached.</summary>
    public static readonly TimeSpan AttachGrace = TimeSpan.FromMinutes(15);

    /// <summary>Types accepted, and their file extension.</summary>
    public static readonly IReadOnlyDictionary<string, string> Extensions = new Dictionary<
        string,
        string
    >
    {
        ["image/jpeg"] = "jpg",
        ["image/png"] = "png",
        ["image/webp"] = "webp",
    };

    /// <summary>Every object of an entrant lives under this prefix; withdrawal deletes it whole.</summary>
    public static string PrefixOf(Guid entrantId) => $"entrants/{entrantId:N}/";

    public static string NewKey(Guid entrantId, string contentType) =>
        $"{PrefixOf(entrantId)}photo-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16))}.{Extensions[contentType]}";

    /// <summary>
    /// Where an attached photo lives: a key of its own, which no upload signature names, so that
    /// nobody can write over a photo once it was verified.
    /// </summary>
    public static string AttachedKey(Guid entrantId, string contentType) =>
        $"{PrefixOf(entrantId)}attached-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16))}.{Extensions[contentType]}";

    /// <summary>Upload signatures an entrant may be given per hour, and unexpired at once.</summary>
    public const int SignaturesPerHour = 10;

    public static readonly TimeSpan SignatureWindow = TimeSpan.FromHours(1);

    public const int SignaturesAtOnce = 3;
}

/// <summary>
/// What is still to delete from the bucket for an entrant who is gone (withdrawn or purged): their
/// whole prefix. Written in the transaction that erases them, so it survives an S3 fault or a
/// closed tab; the clock's photo sweep deletes the prefix again until <see cref="Until"/> has
/// passed (an upload signed just before the erasure can still land until its signature expires),
/// then the record itself.
/// </summary>
public sealed class PhotoErasure
{
    /// <summary>The entrant's prefix in the bucket.</summary>
    public required string Id { get; set; }

    /// <summary>When every upload signature the entrant could have been issued has expired.</summary>
    public DateTimeOffset Until { get; set; }

    public int Attempts { get; set; }
    public string? LastError { get; set; }

    public static PhotoErasure Of(Guid entrantId, DateTimeOffset now) =>
        new()
        {
            Id = PhotoRules.PrefixOf(entrantId),
            // A signature issued by a request that raced the erasure, and the S3 clock's skew.
            Until = now + PhotoRules.SignatureLifetime + TimeSpan.FromMinutes(1),
        };

    public static void Configure(StoreOptions options) =>
        options.Schema.For<PhotoErasure>().Duplicate(x => x.Until, pgType: "timestamptz");
}
