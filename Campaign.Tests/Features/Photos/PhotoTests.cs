using System.Net;
using System.Net.Http.Json;
using Campaign.Features.Photos;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Newtonsoft.Json.Linq;
using Snapshooter.Xunit;

namespace Campaign.Tests.Features.Photos;

/// <summary>Photos against a real S3-compatible server (s3rver), which enforces no policy: the app must.</summary>
[Collection(nameof(CampaignApp))]
public sealed class PhotoTests(CampaignApp app) : IAsyncLifetime
{
    static readonly HttpClient S3 = new();

    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    internal static async Task<JToken> Sign(HttpClient client, string contentType = "image/png")
    {
        var response = await client.PostAsJsonAsync(
            "/api/v1/me/photo-uploads",
            new { contentType }
        );
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Json();
    }

    /// <summary>Posts the file to the bucket the way a browser's form does: the signed fields, then the file.</summary>
    internal static async Task Upload(JToken signed, byte[] file, string? contentType = null)
    {
        using var form = new MultipartFormDataContent();
        foreach (var field in (JObject)signed["fields"]!)
        {
            var value =
                field.Key == "Content-Type" && contentType is not null
                    ? contentType
                    : (string)field.Value!;
            form.Add(new StringContent(value), field.Key);
        }
        form.Add(new ByteArrayContent(file), "file", "photo");
        var response = await S3.PostAsync((string)signed["url"]!, form);
        Assert.True(response.IsSuccessStatusCode, $"S3 answered {response.StatusCode}");
    }

    internal static Task<HttpResponseMessage> Attach(HttpClient client, JToken signed) =>
        client.PutAsJsonAsync("/api/v1/me/photo", new { key = (string)signed["key"]! });

    /// <summary>A photo through the whole flow (sign, upload, attach); the key it is kept under.</summary>
    internal static async Task<string> AddPhoto(HttpClient client)
    {
        var signed = await Sign(client);
        await Upload(signed, Images.Png);
        return await AttachedKey(await Attach(client, signed));
    }

    /// <summary>The key of the attached photo, from its (path-style, presigned) address.</summary>
    internal static async Task<string> AttachedKey(HttpResponseMessage attached)
    {
        Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        var url = new Uri((string)(await attached.Json())["url"]!);
        return Uri.UnescapeDataString(url.AbsolutePath.Split('/', 3)[2]);
    }

    /// <summary>The time by the bucket's own clock: the stamp of an object written now.</summary>
    async Task<DateTimeOffset> BucketNow()
    {
        var s3 = app.Services.GetRequiredService<Amazon.S3.IAmazonS3>();
        var settings = app.Services.GetRequiredService<Campaign.Platform.Settings>();
        var key = $"clock-probe/{Guid.NewGuid():N}";
        await s3.PutObjectAsync(
            new Amazon.S3.Model.PutObjectRequest
            {
                BucketName = settings.S3.Bucket,
                Key = key,
                ContentBody = "now",
                UseChunkEncoding = false,
            }
        );
        var stamped = (
            await app.Services.GetRequiredService<PhotoStorage>().Describe(key, default)
        )!;
        await s3.DeleteObjectAsync(settings.S3.Bucket, key);
        return new DateTimeOffset(stamped.LastModified!.Value.ToUniversalTime(), TimeSpan.Zero);
    }

    async Task<bool> Exists(string key) =>
        await app.Services.GetRequiredService<PhotoStorage>().Describe(key, default) is not null;

    [Fact]
    public async Task A_photo_goes_straight_to_S3_is_verified_attached_and_reads_back_identical()
    {
        var (client, entrantId) = await app.SignedIn("photo@example.jp");

        var signed = await Sign(client);
        await Upload(signed, Images.Png);
        var attached = await Attach(client, signed);
        var me = await (await client.GetAsync("/api/v1/me")).Json();

        Assert.StartsWith($"entrants/{entrantId:N}/photo-", (string)signed["key"]!);
        // Kept under a key of its own, which no signature names; the upload's object is gone.
        var kept = await AttachedKey(attached);
        Assert.StartsWith($"entrants/{entrantId:N}/attached-", kept);
        Assert.False(await Exists((string)signed["key"]!));
        Assert.Equal(5 * 1024 * 1024, (long)signed["maxBytes"]!);
        Assert.Equal(
            ["Content-Type", "key"],
            ((JObject)signed["fields"]!)
                .Properties()
                .Select(p => p.Name)
                .Where(n => n is "key" or "Content-Type")
                .Order()
        );
        Assert.Equal(HttpStatusCode.OK, attached.StatusCode);
        var photo = me["photo"]!;
        Assert.Equal(
            ("image/png", Images.Png.Length),
            ((string)photo["contentType"]!, (int)photo["bytes"]!)
        );
        Assert.Equal(Images.Png, await S3.GetByteArrayAsync((string)photo["url"]!));
    }

    [Fact]
    public async Task Only_JPEG_PNG_and_WebP_can_be_signed()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");

        var response = await client.PostAsJsonAsync(
            "/api/v1/me/photo-uploads",
            new { contentType = "image/svg+xml" }
        );

        Snapshot.Match(await response.Problem(HttpStatusCode.UnsupportedMediaType));
    }

    [Fact]
    public async Task HTML_disguised_as_an_image_is_refused_and_deleted_and_the_photo_already_there_stays()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var good = await Sign(client);
        await Upload(good, Images.Png);
        await Attach(client, good);

        var bad = await Sign(client);
        await Upload(bad, Images.Html);
        var response = await Attach(client, bad);

        Snapshot.Match(await response.Problem(HttpStatusCode.UnsupportedMediaType));
        Assert.False(await Exists((string)bad["key"]!));
        var me = await (await client.GetAsync("/api/v1/me")).Json();
        Assert.Equal(Images.Png, await S3.GetByteArrayAsync((string)me["photo"]!["url"]!));
    }

    [Fact]
    public async Task A_file_uploaded_with_another_type_than_signed_is_refused()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var signed = await Sign(client, "image/png");

        await Upload(signed, Images.Jpeg, contentType: "image/jpeg");
        var response = await Attach(client, signed);

        await response.Problem(HttpStatusCode.UnsupportedMediaType);
        Assert.False(await Exists((string)signed["key"]!));
    }

    [Fact]
    public async Task A_file_over_5_MiB_is_refused_and_deleted()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var signed = await Sign(client);

        await Upload(signed, Images.OfSize(PhotoRules.MaxBytes + 1));
        var response = await Attach(client, signed);

        Snapshot.Match(await response.Problem(HttpStatusCode.RequestEntityTooLarge));
        Assert.False(await Exists((string)signed["key"]!));
    }

    [Fact]
    public async Task A_key_signed_for_another_entrant_cannot_be_attached()
    {
        var (alice, _) = await app.SignedIn("alice@example.jp");
        var (bob, _) = await app.SignedIn("bob@example.jp");
        var signed = await Sign(alice);
        await Upload(signed, Images.Png);

        var response = await Attach(bob, signed);

        Snapshot.Match(await response.Problem(HttpStatusCode.NotFound));
        Assert.True(await Exists((string)signed["key"]!)); // still Alice's to attach
    }

    [Theory]
    [InlineData("../entrants/x/photo.png")]
    [InlineData("entrants/00000000000000000000000000000000/photo-0.png")]
    [InlineData("")]
    public async Task A_key_the_app_did_not_sign_cannot_be_attached(string key)
    {
        var (client, _) = await app.SignedIn("photo@example.jp");

        var response = await client.PutAsJsonAsync("/api/v1/me/photo", new { key });

        await response.Problem(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task A_signature_is_used_once()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var signed = await Sign(client);
        await Upload(signed, Images.Png);
        await Attach(client, signed);

        var again = await Attach(client, signed);

        await again.Problem(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task An_upload_made_after_its_signature_expired_is_refused()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        // Signed ten minutes ago, for five minutes. S3 stamps the upload by its own clock (s3rver:
        // the file's time, which no moved clock of a test run changes): the app's clock is placed
        // from what the bucket reads now.
        app.Clock.At(await BucketNow() - TimeSpan.FromMinutes(10));
        var signed = await Sign(client);

        await Upload(signed, Images.Png); // s3rver does not enforce the policy's expiry
        var response = await Attach(client, signed);

        Snapshot.Match(await response.Problem(HttpStatusCode.Gone));
        Assert.False(await Exists((string)signed["key"]!));
    }

    [Fact]
    public async Task Photos_need_a_session()
    {
        using var client = app.CreateClient();

        var response = await client.PostAsJsonAsync(
            "/api/v1/me/photo-uploads",
            new { contentType = "image/png" }
        );

        await response.Problem(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Replacing_a_photo_deletes_the_old_object_and_removing_it_deletes_the_new_one()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var first = await AddPhoto(client);
        var second = await Sign(client, "image/jpeg");
        await Upload(second, Images.Jpeg);

        var secondKey = await AttachedKey(await Attach(client, second));
        var firstGone = !await Exists(first);
        var secondThere = await Exists(secondKey);
        var removed = await client.DeleteAsync("/api/v1/me/photo");

        Assert.True(firstGone);
        Assert.True(secondThere);
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        Assert.False(await Exists(secondKey));
        Assert.Equal(
            JTokenType.Null,
            (await (await client.GetAsync("/api/v1/me")).Json())["photo"]!.Type
        );
    }

    [Fact]
    public async Task Withdrawing_deletes_every_object_under_the_entrants_prefix()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var attached = await AddPhoto(client);
        var neverAttached = await Sign(client);
        await Upload(neverAttached, Images.Png);

        await client.DeleteAsync("/api/v1/me");

        Assert.False(await Exists(attached));
        Assert.False(await Exists((string)neverAttached["key"]!));
    }

    [Fact]
    public async Task The_clock_deletes_uploads_that_were_never_attached()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var abandoned = await Sign(client);
        await Upload(abandoned, Images.Png);

        app.Clock.Advance(PhotoRules.SignatureWindow + TimeSpan.FromMinutes(1));
        await ActivatorUtilities.CreateInstance<SweepPhotoUploads>(app.Services).Invoke();

        Assert.False(await Exists((string)abandoned["key"]!));
        await using var session = app.Store.QuerySession();
        Assert.Equal(0, await session.Query<PhotoUpload>().CountAsync());
    }

    [Fact]
    public async Task Withdrawing_while_S3_fails_finishes_and_the_clock_deletes_the_photo_and_a_late_upload()
    {
        var (client, entrantId) = await app.SignedIn("photo@example.jp");
        var photo = await AddPhoto(client);
        var late = await Sign(client); // signed before withdrawing, uploaded after
        // Another dyno of the app, on the same database and Redis, whose way to S3 fails: nothing
        // listens where it looks for the bucket.
        await using var s3Down = CampaignApp.With(
            new() { ["DATABASE_SCHEMA"] = app.Schema, ["S3_ENDPOINT"] = "http://127.0.0.1:9" }
        );
        var (token, stored) = Campaign.Features.SignIn.SignInToken.Issue(
            entrantId,
            s3Down.Clock.GetUtcNow()
        );
        await using (var session = app.Session())
        {
            session.Insert(stored);
            await session.SaveChangesAsync();
        }
        using var there = s3Down.CreateClient();
        Assert.Equal(HttpStatusCode.NoContent, (await there.SignIn(token)).StatusCode);

        var withdrawn = await there.DeleteAsync("/api/v1/me");

        // Done for the person: gone and signed out everywhere. The object is still there, as S3
        // failed, and what is left to delete is on record.
        Assert.Equal(HttpStatusCode.NoContent, withdrawn.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/v1/me")).StatusCode);
        Assert.True(await Exists(photo));
        var erasure = await Erasure(entrantId);
        Assert.NotNull(erasure);
        Assert.True(erasure.Until >= app.Clock.GetUtcNow() + PhotoRules.SignatureLifetime);

        // The upload signed before the withdrawal lands after it (s3rver does not even enforce
        // the policy's expiry). The clock's sweep, with S3 back, deletes both, and keeps the record
        // while a signature of theirs may still bring an object back.
        await Upload(late, Images.Png);
        await ActivatorUtilities.CreateInstance<SweepPhotoUploads>(app.Services).Invoke();
        Assert.False(await Exists(photo));
        Assert.False(await Exists((string)late["key"]!));
        Assert.NotNull(await Erasure(entrantId));

        await Upload(late, Images.Png);
        app.Clock.At(erasure.Until + TimeSpan.FromSeconds(1));
        await ActivatorUtilities.CreateInstance<SweepPhotoUploads>(app.Services).Invoke();
        Assert.False(await Exists((string)late["key"]!));
        Assert.Null(await Erasure(entrantId));
    }

    async Task<PhotoErasure?> Erasure(Guid entrantId)
    {
        await using var session = app.Store.QuerySession();
        return await session.LoadAsync<PhotoErasure>(PhotoRules.PrefixOf(entrantId));
    }

    [Fact]
    public async Task An_attached_photo_cannot_be_swapped_with_the_signature_it_came_with()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var signed = await Sign(client);
        await Upload(signed, Images.Png);
        var attached = await Attach(client, signed);
        var kept = await AttachedKey(attached);

        // The signature is still valid for minutes: post HTML under it, as an attacker would.
        await Upload(signed, Images.Html);
        var me = await (await client.GetAsync("/api/v1/me")).Json();

        Assert.Equal(Images.Png, await S3.GetByteArrayAsync((string)me["photo"]!["url"]!));
        Assert.NotEqual((string)signed["key"]!, kept);
        // What was posted there is the sweep's, once the signature has expired.
        app.Clock.Advance(PhotoRules.SignatureWindow + TimeSpan.FromMinutes(1));
        await ActivatorUtilities.CreateInstance<SweepPhotoUploads>(app.Services).Invoke();
        Assert.False(await Exists((string)signed["key"]!));
        Assert.True(await Exists(kept));
    }

    [Theory]
    [InlineData("image/jpeg", "GPS")]
    [InlineData("image/jpeg", "XMP")]
    [InlineData("image/png", "GPS")]
    [InlineData("image/webp", "GPS")]
    public async Task A_photo_with_its_location_is_refused_and_deleted(string type, string metadata)
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var file = (type, metadata) switch
        {
            ("image/jpeg", "GPS") => Images.JpegOf(800, 600, Images.Exif(0x8825)),
            ("image/jpeg", _) => Images.JpegOf(800, 600, Images.Xmp),
            ("image/png", _) => Images.PngOf(8, 8, ("eXIf", Images.Exif(0x8825)[6..])),
            _ => Images.WebPOf(8, 8, 0, ("EXIF", Images.Exif(0x8825)[6..])),
        };
        var signed = await Sign(client, type);
        await Upload(signed, file);

        var response = await Attach(client, signed);

        var problem = await response.Problem(HttpStatusCode.UnprocessableEntity);
        Assert.Equal("/problems/photo-has-location", (string)problem["type"]!);
        Assert.False(await Exists((string)signed["key"]!));
        var me = await (await client.GetAsync("/api/v1/me")).Json();
        Assert.Equal(JTokenType.Null, me["photo"]!.Type);
    }

    [Fact]
    public async Task A_decompression_bomb_is_refused_from_its_headers()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var signed = await Sign(client);
        await Upload(signed, Images.PngOf(100_000, 100_000));

        var response = await Attach(client, signed);

        var problem = await response.Problem(HttpStatusCode.UnprocessableEntity);
        Assert.Equal("/problems/photo-too-many-pixels", (string)problem["type"]!);
    }

    [Fact]
    public async Task An_entrant_gets_three_signatures_at_once_and_ten_an_hour()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        async Task<HttpResponseMessage> Ask() =>
            await client.PostAsJsonAsync(
                "/api/v1/me/photo-uploads",
                new { contentType = "image/png" }
            );

        var atOnce = new List<HttpStatusCode>();
        for (var i = 0; i < PhotoRules.SignaturesAtOnce + 1; i++)
            atOnce.Add((await Ask()).StatusCode);
        var overAtOnce = await Ask();
        // Five minutes later those have expired unused; the hour's count goes on.
        var hour = new List<HttpStatusCode>();
        for (var round = 0; round < 3; round++)
        {
            app.Clock.Advance(PhotoRules.SignatureLifetime + TimeSpan.FromSeconds(1));
            for (var i = 0; i < PhotoRules.SignaturesAtOnce; i++)
                hour.Add((await Ask()).StatusCode);
        }

        Assert.Equal(
            [
                .. Enumerable.Repeat(HttpStatusCode.OK, PhotoRules.SignaturesAtOnce),
                HttpStatusCode.TooManyRequests,
            ],
            atOnce
        );
        var problem = await overAtOnce.Problem(HttpStatusCode.TooManyRequests);
        Assert.Equal("/problems/photo-uploads-too-many", (string)problem["type"]!);
        Assert.Equal("300", overAtOnce.Headers.RetryAfter!.ToString());
        // 3 in the first five minutes, then 3 + 3 + 1 more of the hour's 10; the next when the
        // first of them is an hour old.
        Assert.Equal(
            PhotoRules.SignaturesPerHour - PhotoRules.SignaturesAtOnce,
            hour.Count(s => s == HttpStatusCode.OK)
        );
        Assert.Equal(HttpStatusCode.TooManyRequests, hour[^1]);
        app.Clock.Advance(TimeSpan.FromMinutes(45));
        Assert.Equal(HttpStatusCode.OK, (await Ask()).StatusCode);
    }

    [Fact]
    public async Task The_signed_policy_names_the_exact_key_size_range_type_and_expiry()
    {
        var (client, _) = await app.SignedIn("photo@example.jp");
        var signed = await Sign(client, "image/webp");
        var fields = (JObject)signed["fields"]!;
        var encoded = (string)
            fields
                .Properties()
                .Single(p => p.Name.Equals("policy", StringComparison.OrdinalIgnoreCase))
                .Value!;

        var policy = JObject.Parse(
            System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(encoded))
        );

        // s3rver enforces none of this; S3 does, from exactly these conditions.
        Assert.Equal(
            ((DateTimeOffset)signed["expiresAt"]!).UtcDateTime,
            ((DateTimeOffset)policy["expiration"]!).UtcDateTime,
            TimeSpan.FromSeconds(1)
        );
        var conditions = ((JArray)policy["conditions"]!)
            .Select(c => c.ToString(Newtonsoft.Json.Formatting.None))
            .ToList();
        Assert.Contains($$"""{"key":"{{(string)signed["key"]!}}"}""", conditions);
        Assert.Contains($"[\"content-length-range\",1,{PhotoRules.MaxBytes}]", conditions);
        Assert.Contains("{\"Content-Type\":\"image/webp\"}", conditions);
        Assert.DoesNotContain(conditions, c => c.Contains("starts-with"));
    }
}
