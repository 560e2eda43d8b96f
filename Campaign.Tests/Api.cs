using System.Net;
using System.Net.Http.Json;
using System.Text;
using Newtonsoft.Json.Linq;

namespace Campaign.Tests;

/// <summary>The JSON API as a consumer uses it.</summary>
public static class Api
{
    public static Task<HttpResponseMessage> Enter(
        this HttpClient client,
        string email,
        string displayName = "山田 太郎",
        bool? consent = true,
        string? locale = null
    ) =>
        client.PostAsJsonAsync(
            "/api/v1/entries",
            new
            {
                email,
                displayName,
                consent,
                locale,
            }
        );

    public static Task<HttpResponseMessage> SignIn(this HttpClient client, string token) =>
        client.PostAsJsonAsync("/api/v1/session", new { token });

    public static Task<HttpResponseMessage> PostRaw(
        this HttpClient client,
        string path,
        string body,
        string contentType = "application/json"
    ) => client.PostAsync(path, new StringContent(body, Encoding.UTF8, contentType));

    public static async Task<JToken> Json(this HttpResponseMessage response) =>
        JToken.Parse(await response.Content.ReadAsStringAsync());

    /// <summary>Asserts the status and that the body is problem details, and returns the body.</summary>
    public static async Task<JToken> Problem(
        this HttpResponseMessage response,
        HttpStatusCode status
    )
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(
            response.StatusCode == status,
            $"expected {status}, got {response.StatusCode}: {body}"
        );
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JToken.Parse(body);
    }
}
