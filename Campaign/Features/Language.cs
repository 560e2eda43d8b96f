namespace Campaign.Features;

/// <summary>
/// Japanese first, English second. A page's language comes from the <c>lang</c> cookie (set by the
/// language switch), else from the browser's Accept-Language, else Japanese.
/// </summary>
public static class Language
{
    public const string Japanese = "ja";
    public const string English = "en";
    public const string Cookie = "lang";

    /// <summary><c>ja</c> or <c>en</c> when the value names one of them, else null.</summary>
    public static string? Parse(string? value) =>
        value?.Trim().ToLowerInvariant() switch
        {
            "ja" or "ja-jp" => Japanese,
            "en" or "en-us" or "en-gb" => English,
            _ => null,
        };

    public static string Of(HttpContext context)
    {
        if (Parse(context.Request.Cookies[Cookie]) is { } chosen)
            return chosen;
        var accepted = context
            .Request.GetTypedHeaders()
            .AcceptLanguage.OrderByDescending(l => l.Quality ?? 1)
            .Select(l => l.Value.Value?.Split('-')[0])
            .FirstOrDefault(l => l is "ja" or "en");
        return accepted ?? Japanese;
    }

    /// <summary>The text for a locale: <c>Say(locale, "日本語", "English")</c>.</summary>
    public static string Say(string locale, string japanese, string english) =>
        locale == English ? english : japanese;
}
