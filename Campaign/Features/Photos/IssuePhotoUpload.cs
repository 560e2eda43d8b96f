using System.Security.Claims;
using Campaign.Features.SignIn;
using Marten;

namespace Campaign.Features.Photos;

/// <summary>
/// <c>POST /api/v1/me/photo-uploads</c>: signs an upload for the signed-in entrant. The server picks
/// the key (under the entrant's prefix, with a random part) and records it with its expiry.
/// </summary>
public static class IssuePhotoUpload
{
    public sealed record UploadRequest(string ContentType);

    public sealed record SignedUpload(
        string Url,
        IReadOnlyDictionary<string, string> Fields,
        string Key,
        DateTimeOffset ExpiresAt,
        long MaxBytes
    );

    public static async Task<Results<Ok<SignedUpload>, ProblemHttpResult>> Handle(
        UploadRequest request,
        ClaimsPrincipal user,
        HttpContext http,
        IDocumentSession session,
        PhotoStorage storage,
        TimeProvider clock,
        CancellationToken cancellationToken
    )
    {
        var locale = Language.Of(http);
        var contentType = request.ContentType?.Trim().ToLowerInvariant() ?? "";
        if (!PhotoRules.Extensions.ContainsKey(contentType))
            return PhotoProblems.TypeNotAllowed(locale);

        var now = clock.GetUtcNow();
        var upload = new PhotoUpload
        {
            Id = PhotoRules.NewKey(user.EntrantId(), contentType),
            EntrantId = user.EntrantId(),
            ContentType = contentType,
            CreatedAt = now,
            ExpiresAt = now + PhotoRules.SignatureLifetime,
        };
        var signed = await storage.SignUpload(upload.Id, contentType, upload.ExpiresAt);
        session.Insert(upload);
        await session.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(
            new SignedUpload(
                signed.Url,
                signed.Fields,
                upload.Id,
                upload.ExpiresAt,
                PhotoRules.MaxBytes
            )
        );
    }
}

/// <summary>The photo features' problems, each with its own type for clients to branch on.</summary>
public static class PhotoProblems
{
    public static ProblemHttpResult TypeNotAllowed(string locale) =>
        Problems.Problem(
            StatusCodes.Status415UnsupportedMediaType,
            "photo-type-not-allowed",
            "Photo type not allowed",
            Language.Say(
                locale,
                "写真は JPEG、PNG、WebP のいずれかにしてください。",
                "A photo must be a JPEG, PNG or WebP image."
            )
        );

    public static ProblemHttpResult UnknownUpload(string locale) =>
        Problems.Problem(
            StatusCodes.Status404NotFound,
            "photo-upload-unknown",
            "No such upload",
            Language.Say(
                locale,
                "このアップロードは見つかりません。もう一度写真を選んでください。",
                "There is no such upload for you. Choose the photo again."
            )
        );

    public static ProblemHttpResult Expired(string locale) =>
        Problems.Problem(
            StatusCodes.Status410Gone,
            "photo-upload-expired",
            "Upload expired",
            Language.Say(
                locale,
                "アップロードの有効期限が切れました。もう一度写真を選んでください。",
                "The upload expired. Choose the photo again."
            )
        );

    public static ProblemHttpResult NotUploaded(string locale) =>
        Problems.Problem(
            StatusCodes.Status409Conflict,
            "photo-not-uploaded",
            "Photo not uploaded",
            Language.Say(
                locale,
                "写真がまだアップロードされていません。",
                "The photo has not been uploaded."
            )
        );

    public static ProblemHttpResult TooLarge(string locale) =>
        Problems.Problem(
            StatusCodes.Status413PayloadTooLarge,
            "photo-too-large",
            "Photo too large",
            Language.Say(locale, "写真は 5 MB までです。", "A photo can be at most 5 MB.")
        );

    public static ProblemHttpResult NotAnImage(string locale) =>
        Problems.Problem(
            StatusCodes.Status415UnsupportedMediaType,
            "photo-content-mismatch",
            "Not the declared image type",
            Language.Say(
                locale,
                "ファイルの中身が画像ではないか、形式が一致しません。",
                "The file is not an image of the type it claims to be."
            )
        );
}
