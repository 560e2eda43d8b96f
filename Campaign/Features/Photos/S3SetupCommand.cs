using Amazon.S3;
using Amazon.S3.Model;
using Campaign.Platform;
using JasperFx.CommandLine;

namespace Campaign.Features.Photos;

/// <summary>
/// <c>./Campaign s3-setup</c> (once per bucket, e.g. <c>heroku run</c>): lets pages at APP_BASE_URL
/// post photos straight to the bucket (CORS), and nothing else: other origins stay refused.
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html
/// </summary>
[Description("Applies the bucket's CORS rule for APP_BASE_URL's origin", Name = "s3-setup")]
public sealed class S3SetupCommand : JasperFxAsyncCommand<NetCoreInput>
{
    public override async Task<bool> Execute(NetCoreInput input)
    {
        using var host = input.BuildHost();
        var settings = host.Services.GetRequiredService<Settings>();
        var s3 = host.Services.GetRequiredService<IAmazonS3>();
        var origin = settings.AppBaseUrl.GetLeftPart(UriPartial.Authority);
        await s3.PutCORSConfigurationAsync(
            new PutCORSConfigurationRequest
            {
                BucketName = settings.S3.Bucket,
                Configuration = new CORSConfiguration
                {
                    Rules =
                    [
                        new CORSRule
                        {
                            AllowedOrigins = [origin],
                            AllowedMethods = ["GET", "POST"],
                            AllowedHeaders = ["*"],
                            ExposeHeaders = ["ETag"],
                            MaxAgeSeconds = 3000,
                        },
                    ],
                },
            }
        );
        Console.WriteLine($"CORS: {settings.S3.Bucket} accepts GET and POST from {origin}");
        return true;
    }
}
