using System.Net;
using System.Text.RegularExpressions;

namespace Campaign.Tests;

/// <summary>
/// A browser as the app's dynos see it behind Heroku's router: it keeps its cookies whichever dyno
/// answers, and every request arrives as HTTPS from one client address (X-Forwarded-*).
/// </summary>
public sealed partial class Visitor(string clientAddress = "203.0.113.10") : IDisposable
{
    readonly HttpClient http = new(
        new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }
    );
    readonly Dictionary<string, string> cookies = [];

    public string ClientAddress { get; set; } = clientAddress;

    public async Task<HttpResponseMessage> Send(HttpRequestMessage request)
    {
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-For", ClientAddress);
        if (cookies.Count > 0)
            request.Headers.Add(
                "Cookie",
                string.Join("; ", cookies.Select(c => $"{c.Key}={c.Value}"))
            );
        var response = await http.SendAsync(request);
        if (response.Headers.TryGetValues("Set-Cookie", out var setCookies))
            foreach (var setCookie in setCookies)
            {
                var (name, value) = (
                    setCookie[..setCookie.IndexOf('=')],
                    setCookie[(setCookie.IndexOf('=') + 1)..].Split(';')[0]
                );
                if (
                    value.Length == 0
                    || setCookie.Contains(
                        "expires=Thu, 01 Jan 1970",
                        StringComparison.OrdinalIgnoreCase
                    )
                )
                    cookies.Remove(name);
                else
                    cookies[name] = value;
            }
        return response;
    }

    public Task<HttpResponseMessage> Get(string url) =>
        Send(new HttpRequestMessage(HttpMethod.Get, url));

    public Task<HttpResponseMessage> PostJson(string url, object body) =>
        Send(
            new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = System.Net.Http.Json.JsonContent.Create(body),
            }
        );

    public Task<HttpResponseMessage> Delete(string url) =>
        Send(new HttpRequestMessage(HttpMethod.Delete, url));

    /// <summary>Gets a page with a form and returns its anti-forgery token.</summary>
    public async Task<string> FormToken(string url)
    {
        var page = await (await Get(url)).Content.ReadAsStringAsync();
        return FormTokenIn(page);
    }

    /// <summary>The anti-forgery token of the form in a page.</summary>
    public static string FormTokenIn(string page) => AntiforgeryField().Match(page).Groups[1].Value;

    public Task<HttpResponseMessage> PostForm(string url, Dictionary<string, string> fields) =>
        Send(
            new HttpRequestMessage(HttpMethod.Post, url)
            {
                Content = new FormUrlEncodedContent(fields),
            }
        );

    public bool Has(string cookie) => cookies.ContainsKey(cookie);

    public void Dispose() => http.Dispose();

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryField();
}
