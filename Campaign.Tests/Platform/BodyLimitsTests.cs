using System.Net;
using System.Text;
using Campaign.Features.Entering;
using Campaign.Platform;
using Marten;

namespace Campaign.Tests.Platform;

/// <summary>
/// Nothing reads a large body: on Kestrel with a real socket (the in-memory test server ignores
/// body limits), every form answers a 2 MB post with 413 before anything else reads it.
/// </summary>
[Collection(nameof(CampaignApp))]
public sealed class BodyLimitsTests(CampaignApp app) : IAsyncLifetime
{
    public Task InitializeAsync() => app.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    // (POST /unsubscribe/{token} reads no body: the link is all it needs.)
    [Theory]
    [InlineData("/signup")]
    [InlineData("/sign-in")]
    [InlineData("/sign-in/link")]
    [InlineData("/sign-out")]
    [InlineData("/me/withdraw")]
    public async Task Every_form_refuses_2_MB_with_413_and_a_page(string path)
    {
        await using var kestrel = CampaignApp.OnKestrel(
            new() { ["DATABASE_SCHEMA"] = app.Schema, ["TRUST_FORWARDED_HEADERS"] = "true" }
        );
        using var client = kestrel.CreateClient();
        client.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        client.DefaultRequestHeaders.Add("Accept", "text/html");
        var twoMegabytes = new FormUrlEncodedContent([
            new("email", "big@example.jp"),
            new("displayName", new string('x', 2 * 1024 * 1024)),
            new("consent", "true"),
        ]);

        var response = await client.PostAsync(path, twoMegabytes);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        await using var session = app.Store.QuerySession();
        Assert.Equal(0, await session.Query<Entrant>().CountAsync());
    }

    [Fact]
    public async Task A_form_with_many_fields_is_refused_with_400()
    {
        await using var kestrel = CampaignApp.OnKestrel(
            new() { ["DATABASE_SCHEMA"] = app.Schema, ["TRUST_FORWARDED_HEADERS"] = "true" }
        );
        using var client = kestrel.CreateClient();
        client.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");
        var manyFields = new FormUrlEncodedContent(
            Enumerable.Range(0, 500).Select(i => new KeyValuePair<string, string>($"f{i}", "x"))
        );

        var response = await client.PostAsync("/signup", manyFields);

        Assert.True(
            Encoding.UTF8.GetByteCount(await manyFields.ReadAsStringAsync()) < BodyLimits.MaxBytes
        );
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public void Text_that_NFKC_would_grow_is_normalised_only_up_to_its_bound()
    {
        // U+FDFA is one character that NFKC turns into 18.
        var grows = new string('\uFDFA', EntryInput.NormalizedMax);
        var tooLong = new string('\uFDFA', EntryInput.NormalizedMax + 1);

        Assert.Equal(18 * EntryInput.NormalizedMax, EntryInput.Normalize(grows).Length);
        Assert.Equal(tooLong, EntryInput.Normalize(tooLong));
    }

    [Fact]
    public async Task A_display_name_that_grows_when_normalised_is_refused_as_too_long()
    {
        using var client = app.CreateClient();

        var response = await client.Enter("grow@example.jp", new string('\uFDFA', 3));

        var problem = await response.Problem(HttpStatusCode.UnprocessableEntity);
        Assert.Contains("現在 54 文字", (string)problem["errors"]!["displayName"]![0]!);
    }
}
