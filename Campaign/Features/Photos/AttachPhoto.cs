using System.Security.Claims;
using Campaign.Features.Entering;
using Campaign.Features.Me;
using Campaign.Features.SignIn;
using Marten;

namespace Campaign.Features.Photos;

/// <summary>
/// <c>PUT /api/v1/me/photo</c>: after the browser uploaded to S3, the app verifies the object and
/// only then attaches it. The upload's key was signed for this entrant, once, and its signature may
/// still be valid: so S3 first copies the upload to a key of its own that no signature names, and
/// the app verifies that copy, which nobody can write over (no gap between the check and the use).
/// Every check is done here, whatever the S3 server enforced: the key was signed for this entrant
/// and not yet used, the upload happened before the signature expired, its size is within the
/// limit, its type is the one signed, and its structure is that of the type, with dimensions within
/// the limit and no location metadata (<see cref="ImageStructure"/>). A refused copy is deleted; the
/// photo the entrant had stays.
/// </summary>
public static class AttachPhoto
{
    public sealed record AttachRequest(string Key);

    public static async Task<Results<Ok<GetMe.PhotoView>, ProblemHttpResult>> Handle(
        AttachRequest request,
        ClaimsPrincipal user,
        HttpContext http,
        IDocumentSession session,
        PhotoStorage storage,
        TimeProvider clock,
        Platform.Metrics metrics,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        var entrantId = user.EntrantId();
        var upload = request.Key is { Length: > 0 and < 512 } key
            ? await session.LoadAsync<PhotoUpload>(key, cancellationToken)
            : null;
        if (
            upload is not { UsedAt: null }
            || upload.EntrantId != entrantId
            || !upload.Id.StartsWith(PhotoRules.PrefixOf(entrantId))
        )
            return PhotoProblems.UnknownUpload(locale);

        var now = clock.GetUtcNow();
        var attachedKey = PhotoRules.AttachedKey(entrantId, upload.ContentType);
        var refusal =
            now > upload.ExpiresAt + PhotoRules.AttachGrace
                ? PhotoProblems.Expired(locale)
                : await CheckUpload(upload, storage, cancellationToken, locale);
        if (refusal is null)
        {
            await storage.Copy(upload.Id, attachedKey, cancellationToken);
            refusal = await Verify(
                attachedKey,
                upload.ContentType,
                storage,
                cancellationToken,
                locale
            );
        }
        // A signature is used once, accepted or not; the sweep deletes its key after it expires.
        upload.UsedAt = now;
        session.Update(upload);
        await storage.Delete(upload.Id, cancellationToken);
        if (refusal is not null)
        {
            await session.SaveChangesAsync(cancellationToken);
            await storage.Delete(attachedKey, cancellationToken);
            return refusal;
        }

        var entrant = await session.LoadAsync<Entrant>(entrantId, cancellationToken);
        if (entrant is null)
            return Problems.NotSignedIn(locale);
        var replaced = entrant.Photo;
        var metadata = (await storage.Describe(attachedKey, cancellationToken))!;
        entrant.Photo = new Photo(attachedKey, upload.ContentType, metadata.ContentLength, now);
        session.Update(entrant);
        await session.SaveChangesAsync(cancellationToken);
        if (replaced is null)
            metrics.Count("campaign.photos_attached"); // an entrant's first: the funnel's last step
        else
            await storage.Delete(replaced.Key, cancellationToken);
        return TypedResults.Ok(await GetMe.PhotoOf(entrant.Photo, storage, clock));
    }

    /// <summary>The upload is there, and S3 stamped it before the signature expired.</summary>
    static async Task<ProblemHttpResult?> CheckUpload(
        PhotoUpload upload,
        PhotoStorage storage,
        CancellationToken cancellationToken,
        string locale
    )
    {
        var metadata = await storage.Describe(upload.Id, cancellationToken);
        if (metadata is null)
            return PhotoProblems.NotUploaded(locale);
        // A POST after the signature expired is refused here even by a server that did not
        // enforce the policy's expiry.
        return
            metadata.LastModified is { } uploadedAt
            && uploadedAt.ToUniversalTime() > upload.ExpiresAt.UtcDateTime.AddSeconds(5)
            ? PhotoProblems.Expired(locale)
            : null;
    }

    /// <summary>The attached copy: its size, type, and structure.</summary>
    static async Task<ProblemHttpResult?> Verify(
        string key,
        string contentType,
        PhotoStorage storage,
        CancellationToken cancellationToken,
        string locale
    )
    {
        var metadata = await storage.Describe(key, cancellationToken);
        if (metadata is null)
            return PhotoProblems.NotUploaded(locale);
        if (metadata.ContentLength is <= 0 or > PhotoRules.MaxBytes)
            return PhotoProblems.TooLarge(locale);
        if (
            !string.Equals(
                metadata.Headers.ContentType,
                contentType,
                StringComparison.OrdinalIgnoreCase
            )
        )
            return PhotoProblems.NotAnImage(locale);
        var verdict = await ImageStructure.Walk(
            contentType,
            metadata.ContentLength,
            (offset, count) => storage.Read(key, offset, count, cancellationToken)
        );
        return verdict.Refusal switch
        {
            ImageStructure.Refusal.None => null,
            ImageStructure.Refusal.TooManyPixels => PhotoProblems.TooManyPixels(locale),
            ImageStructure.Refusal.Location => PhotoProblems.HasLocation(locale),
            _ => PhotoProblems.NotAnImage(locale),
        };
    }
}

/// <summary><c>DELETE /api/v1/me/photo</c>: removes the photo and its object.</summary>
public static class RemovePhoto
{
    public static async Task<NoContent> Handle(
        ClaimsPrincipal user,
        IDocumentSession session,
        PhotoStorage storage,
        CancellationToken cancellationToken
    )
    {
        var entrant = await session.LoadAsync<Entrant>(user.EntrantId(), cancellationToken);
        if (entrant?.Photo is { } photo)
        {
            entrant.Photo = null;
            session.Update(entrant);
            await session.SaveChangesAsync(cancellationToken);
            await storage.Delete(photo.Key, cancellationToken);
        }
        return TypedResults.NoContent();
    }
}
