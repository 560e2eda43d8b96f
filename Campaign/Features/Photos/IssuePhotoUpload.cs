using System.Security.Claims;
using Campaign.Features.SignIn;
using Marten;

namespace Campaign.Features.Photos;

/// <summary>
/// <c>POST /api/v1/me/photo-uploads</c>: signs an upload for the signed-in entrant. The server picks
/// the key (under the entrant's prefix, with a random part) and records it with its expiry. Each
/// signature lets its holder store up to 5 MB: an entrant gets <see cref="PhotoRules.SignaturesAtOnce"/>
/// unused at once and <see cref="PhotoRules.SignaturesPerHour"/> in any hour, counted from the
/// uploads on record (the clock's sweep keeps each for an hour at least).
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
        var entrantId = user.EntrantId();
        var hourAgo = now - PhotoRules.SignatureWindow;
        var lastHour = await session
            .Query<PhotoUpload>()
            .Where(u => u.EntrantId == entrantId && u.CreatedAt > hourAgo)
            .ToListAsync(cancellationToken);
        if (
            lastHour.Count(u => u.UsedAt == null && u.ExpiresAt > now)
            >= PhotoRules.SignaturesAtOnce
        )
            return TooMany(http, locale, PhotoRules.SignatureLifetime);
        if (lastHour.Count >= PhotoRules.SignaturesPerHour)
            return TooMany(
                http,
                locale,
                lastHour.Min(u => u.CreatedAt) + PhotoRules.SignatureWindow - now
            );

        var upload = new PhotoUpload
        {
            Id = PhotoRules.NewKey(entrantId, contentType),
            EntrantId = entrantId,
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

    static ProblemHttpResult TooMany(HttpContext http, string locale, TimeSpan retryAfter)
    {
        http.Response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString();
        return PhotoProblems.TooManySignatures(locale);
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
            Language.Say(
                locale,
                $"写真は {PhotoRules.MaxBytes / 1024 / 1024} MB までです。",
                $"A photo can be at most {PhotoRules.MaxBytes / 1024 / 1024} MB."
            )
        );

    public static ProblemHttpResult TooManyPixels(string locale) =>
        Problems.Problem(
            StatusCodes.Status422UnprocessableEntity,
            "photo-too-many-pixels",
            "Photo too large in pixels",
            Language.Say(
                locale,
                $"写真の画素数は {ImageStructure.MaxPixels / 1_000_000:N0} メガピクセルまでです。",
                $"A photo can have at most {ImageStructure.MaxPixels / 1_000_000:N0} megapixels."
            )
        );

    public static ProblemHttpResult HasLocation(string locale) =>
        Problems.Problem(
            StatusCodes.Status422UnprocessableEntity,
            "photo-has-location",
            "Photo carries location data",
            Language.Say(
                locale,
                "写真に位置情報などのメタデータ（EXIF の GPS、XMP）が含まれています。位置情報を含まない写真を選ぶか、このページから選び直してください（ページが取り除いてから送ります）。",
                "The photo carries metadata such as its location (EXIF GPS, XMP). Choose a photo without it, or choose it again on this page, which removes it before sending."
            )
        );

    public static ProblemHttpResult TooManySignatures(string locale) =>
        Problems.Problem(
            StatusCodes.Status429TooManyRequests,
            "photo-uploads-too-many",
            "Too many photo uploads",
            Language.Say(
                locale,
                $"写真のアップロードは 1 時間に {PhotoRules.SignaturesPerHour} 回、同時に {PhotoRules.SignaturesAtOnce} 件までです。しばらくしてからお試しください。",
                $"You can upload a photo {PhotoRules.SignaturesPerHour} times an hour, {PhotoRules.SignaturesAtOnce} at once. Try again later."
            )
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
