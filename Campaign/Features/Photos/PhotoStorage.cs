using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Campaign.Platform;

namespace Campaign.Features.Photos;

/// <summary>
/// The bucket as the photo features use it: presigned POSTs for uploads straight from the browser,
/// short-lived presigned GETs to show a photo (the bucket stays private), and the checks and
/// deletions that follow. Photo bytes never pass through a dyno.
/// </summary>
public sealed partial class PhotoStorage(
    IAmazonS3 s3,
    Settings settings,
    ILogger<PhotoStorage> logger
)
{
    public static readonly TimeSpan ViewLifetime = TimeSpan.FromMinutes(15);

    string Bucket => settings.S3.Bucket;

    bool PlainHttp => settings.S3.Endpoint?.Scheme == "http";

    /// <summary>
    /// A form the browser posts the file with. S3 enforces the policy: this exact key and
    /// Content-Type, a size from 1 byte to the limit, before it expires.
    /// </summary>
    public Task<CreatePresignedPostResponse> SignUpload(
        string key,
        string contentType,
        DateTimeOffset expiresAt
    ) =>
        s3.CreatePresignedPostAsync(
            new CreatePresignedPostRequest
            {
                BucketName = Bucket,
                Key = key,
                Expires = expiresAt.UtcDateTime,
                Fields = new Dictionary<string, string> { ["Content-Type"] = contentType },
                Conditions =
                [
                    S3PostCondition.ContentLengthRange(1, PhotoRules.MaxBytes),
                    S3PostCondition.ExactMatch("Content-Type", contentType),
                ],
            }
        );

    /// <summary>
    /// The bucket's origin as browsers reach it (for the Content-Security-Policy, which keeps it).
    /// The first call takes about 150 ms, most of it the S3 client's first use.
    /// </summary>
    public string Origin() =>
        new Uri(
            s3.GetPreSignedURL(
                new GetPreSignedUrlRequest
                {
                    BucketName = Bucket,
                    Key = "origin",
                    Verb = HttpVerb.GET,
                    Expires = DateTime.UtcNow.AddMinutes(1),
                    Protocol = PlainHttp ? Protocol.HTTP : Protocol.HTTPS,
                }
            )
        ).GetLeftPart(UriPartial.Authority);

    public Task<string> ViewUrl(string key, DateTimeOffset now) =>
        s3.GetPreSignedURLAsync(
            new GetPreSignedUrlRequest
            {
                BucketName = Bucket,
                Key = key,
                Verb = HttpVerb.GET,
                Expires = (now + ViewLifetime).UtcDateTime,
                Protocol = PlainHttp ? Protocol.HTTP : Protocol.HTTPS,
            }
        );

    /// <summary>The object's size, type and time of upload, or null when there is no such object.</summary>
    public async Task<GetObjectMetadataResponse?> Describe(
        string key,
        CancellationToken cancellationToken
    )
    {
        try
        {
            return await s3.GetObjectMetadataAsync(Bucket, key, cancellationToken);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Copies an object inside the bucket (S3 copies it; no byte passes through the dyno), keeping
    /// its type.
    /// </summary>
    public Task Copy(string from, string to, CancellationToken cancellationToken) =>
        s3.CopyObjectAsync(
            new CopyObjectRequest
            {
                SourceBucket = Bucket,
                SourceKey = from,
                DestinationBucket = Bucket,
                DestinationKey = to,
            },
            cancellationToken
        );

    /// <summary>Some bytes of the object (a ranged GET): the headers of an image, never the image.</summary>
    public async Task<byte[]> Read(
        string key,
        long offset,
        int count,
        CancellationToken cancellationToken
    )
    {
        if (count == 0)
            return [];
        using var response = await s3.GetObjectAsync(
            new GetObjectRequest
            {
                BucketName = Bucket,
                Key = key,
                ByteRange = new ByteRange(offset, offset + count - 1),
            },
            cancellationToken
        );
        var buffer = new byte[count];
        var read = await response.ResponseStream.ReadAtLeastAsync(
            buffer,
            count,
            throwOnEndOfStream: false,
            cancellationToken
        );
        return buffer[..read];
    }

    public Task Delete(string key, CancellationToken cancellationToken = default) =>
        s3.DeleteObjectAsync(Bucket, key, cancellationToken);

    /// <summary>
    /// Deletes every object under each prefix, as far as S3 lets it: a fault is logged (never the
    /// keys, which name entrants), not thrown. True when every prefix is empty now.
    /// </summary>
    public async Task<bool> TryDeletePrefixes(
        IEnumerable<string> prefixes,
        string purpose,
        CancellationToken cancellationToken
    )
    {
        var failed = 0;
        await Parallel.ForEachAsync(
            prefixes,
            new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (prefix, _) =>
            {
                try
                {
                    await DeletePrefix(prefix, cancellationToken);
                }
                catch (Exception e) when (IsFault(e))
                {
                    Interlocked.Increment(ref failed);
                    LogDeferred(logger, purpose, e.GetType().Name);
                }
            }
        );
        return failed == 0;
    }

    /// <summary>What S3 (or the way to it) can throw: an error answer, the network, a time-out.</summary>
    public static bool IsFault(Exception e) =>
        e
            is AmazonServiceException
                or HttpRequestException
                or IOException
                or OperationCanceledException
                or TimeoutException
        || e.InnerException is { } inner && IsFault(inner);

    [LoggerMessage(
        Level = LogLevel.Warning,
        Message = "photo deletion deferred purpose={Purpose} error={Error}: the clock's photo sweep tries again"
    )]
    static partial void LogDeferred(ILogger logger, string purpose, string error);

    /// <summary>Deletes every object under the prefix (an entrant's all).</summary>
    public async Task DeletePrefix(string prefix, CancellationToken cancellationToken = default)
    {
        var request = new ListObjectsV2Request { BucketName = Bucket, Prefix = prefix };
        ListObjectsV2Response page;
        do
        {
            page = await s3.ListObjectsV2Async(request, cancellationToken);
            foreach (var item in page.S3Objects ?? [])
                await s3.DeleteObjectAsync(Bucket, item.Key, cancellationToken);
            request.ContinuationToken = page.NextContinuationToken;
        } while (page.IsTruncated == true);
    }
}
