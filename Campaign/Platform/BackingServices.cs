using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Npgsql;
using StackExchange.Redis;

namespace Campaign.Platform;

/// <summary>
/// The backing services as DI singletons: one PostgreSQL connection pool (shared by Marten and the
/// health checks) and one Redis multiplexer per process. https://12factor.net/backing-services
/// </summary>
public static class BackingServices
{
    public static IServiceCollection AddBackingServices(
        this IServiceCollection services,
        Settings settings
    )
    {
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(_ => NpgsqlDataSource.Create(settings.DatabaseConnectionString));
        // Created on first use; with AbortOnConnectFail off it reconnects by itself.
        services.AddSingleton<IConnectionMultiplexer>(_ =>
            ConnectionMultiplexer.Connect(settings.Redis)
        );
        services.AddSingleton<IAmazonS3>(_ => S3Client(settings.S3));
        return services;
    }

    /// <summary>
    /// An S3 client for AWS (Bucketeer), or with S3_ENDPOINT for an S3-compatible server: path-style
    /// addresses, plain HTTP when the endpoint says so, and checksums only where S3 requires them
    /// (newer SDKs add them everywhere, which S3-compatible servers do not all understand).
    /// </summary>
    public static AmazonS3Client S3Client(S3Settings s3)
    {
        var config = new AmazonS3Config
        {
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            Timeout = TimeSpan.FromSeconds(10),
            MaxErrorRetry = 2,
        };
        if (s3.Endpoint is { } endpoint)
        {
            config.ServiceURL = endpoint.ToString();
            config.ForcePathStyle = true;
            config.AuthenticationRegion = s3.Region;
        }
        else
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(s3.Region);
        var client = new AmazonS3Client(
            new BasicAWSCredentials(s3.AccessKeyId, s3.SecretAccessKey),
            config
        );
        client.BeforeRequestEvent += CopySourceWithPlainSlashes;
        return client;
    }

    /// <summary>
    /// A copy's source (<c>x-amz-copy-source</c>) as <c>bucket/key</c> with plain slashes: the SDK
    /// escapes them (<c>%2F</c>), which S3 accepts and s3rver (local development, tests) does not.
    /// Both take the plain form. The app's keys are letters, digits, <c>/ . -</c> only.
    /// </summary>
    static void CopySourceWithPlainSlashes(object sender, RequestEventArgs e)
    {
        if (
            e is WebServiceRequestEventArgs { Headers: { } headers }
            && headers.TryGetValue("x-amz-copy-source", out var source)
        )
            headers["x-amz-copy-source"] = source.Replace(
                "%2F",
                "/",
                StringComparison.OrdinalIgnoreCase
            );
    }
}
