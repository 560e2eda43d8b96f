using System.Security.Claims;
using Campaign.Features.Entering;
using Campaign.Features.Me;
using Campaign.Features.SignIn;
using Marten;

namespace Campaign.Features.Photos;

/// <summary>
/// <c>PUT /api/v1/me/photo</c>: after the browser uploaded to S3, the app verifies the object and
/// only then attaches it. Every check is done here, whatever the S3 server enforced: the key was
/// signed for this entrant and not yet used, the upload happened before the signature expired, the
/// object exists, its size is within the limit, its type is the one signed, and its first bytes are
/// those of that type. A refused object is deleted; the photo the entrant had stays.
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
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        var entrantId = user.EntrantId();
        var upload = request.Key is { Length: > 0 and < 512 } key
            ? await session.LoadAsync<PhotoUpload>(key, cancellationToken)
            : null;
        if (
            upload is null
            || upload.EntrantId != entrantId
            || !upload.Id.StartsWith(PhotoRules.PrefixOf(entrantId))
        )
            return PhotoProblems.UnknownUpload(locale);

        var refusal =
            clock.GetUtcNow() > upload.ExpiresAt + PhotoRules.AttachGrace
                ? PhotoProblems.Expired(locale)
                : await Verify(upload, storage, cancellationToken, locale);
        session.Delete(upload); // a signature is used once, accepted or not
        if (refusal is not null)
        {
            await session.SaveChangesAsync(cancellationToken);
            await storage.Delete(upload.Id, cancellationToken);
            return refusal;
        }

        var entrant = await session.LoadAsync<Entrant>(entrantId, cancellationToken);
        if (entrant is null)
            return Problems.NotSignedIn(locale);
        var replaced = entrant.Photo;
        var metadata = (await storage.Describe(upload.Id, cancellationToken))!;
        entrant.Photo = new Photo(
            upload.Id,
            upload.ContentType,
            metadata.ContentLength,
            clock.GetUtcNow()
        );
        session.Update(entrant);
        await session.SaveChangesAsync(cancellationToken);
        if (replaced is not null)
            await storage.Delete(replaced.Key, cancellationToken);
        return TypedResults.Ok(await GetMe.PhotoOf(entrant.Photo, storage, clock));
    }

    static async Task<ProblemHttpResult?> Verify(
        PhotoUpload upload,
        PhotoStorage storage,
        CancellationToken cancellationToken,
        string locale
    )
    {
        var metadata = await storage.Describe(upload.Id, cancellationToken);
        if (metadata is null)
            return PhotoProblems.NotUploaded(locale);
        // S3 stamps the upload's time: a POST after the signature expired is refused here even by
        // a server that did not enforce the policy's expiry.
        if (
            metadata.LastModified is { } uploadedAt
            && uploadedAt.ToUniversalTime() > upload.ExpiresAt.UtcDateTime.AddSeconds(5)
        )
            return PhotoProblems.Expired(locale);
        if (metadata.ContentLength is <= 0 or > PhotoRules.MaxBytes)
            return PhotoProblems.TooLarge(locale);
        if (
            !string.Equals(
                metadata.Headers.ContentType,
                upload.ContentType,
                StringComparison.OrdinalIgnoreCase
            )
        )
            return PhotoProblems.NotAnImage(locale);
        var head = await storage.FirstBytes(upload.Id, 16, cancellationToken);
        return PhotoRules.LooksLike(upload.ContentType, head)
            ? null
            : PhotoProblems.NotAnImage(locale);
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
