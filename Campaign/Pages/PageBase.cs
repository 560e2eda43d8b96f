using Campaign.Features;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Campaign.Pages;

/// <summary>
/// What every page component has: its language, and <c>L("日本語", "English")</c> to say things in it.
/// Pages are Razor components rendered on the server into plain HTML (no WebSocket, no WebAssembly).
/// </summary>
public abstract class PageBase : ComponentBase
{
    [Parameter]
    public string Locale { get; set; } = Language.Japanese;

    protected bool Japanese => Locale != Language.English;

    protected string L(string japanese, string english) => Language.Say(Locale, japanese, english);
}

public static class Page
{
    /// <summary>A page component as the response, with its parameters and status code.</summary>
    public static RazorComponentResult<T> Show<T>(object parameters, int status = 200)
        where T : IComponent => new(parameters) { StatusCode = status };

    /// <summary>303 See Other: after a form POST, the browser GETs the next page (no re-post on reload).</summary>
    public static IResult SeeOther(string path) => Results.Extensions.SeeOther(path);

    static IResult SeeOther(this IResultExtensions _, string path) => new SeeOtherResult(path);

    sealed class SeeOtherResult(string path) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.StatusCode = StatusCodes.Status303SeeOther;
            http.Response.Headers.Location = path;
            return Task.CompletedTask;
        }
    }
}
