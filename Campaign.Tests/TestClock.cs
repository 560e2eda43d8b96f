namespace Campaign.Tests;

/// <summary>
/// The app's clock in a test: it runs at the real pace from an instant the test names, so that
/// what takes time in the app (Polly's retries and time-outs, a lease, a cookie's expiry) still
/// elapses, while every date the app decides by is the test's. Timers stay real.
/// </summary>
public sealed class TestClock : TimeProvider
{
    sealed record Origin(DateTimeOffset At, long Timestamp);

    Origin origin;

    public TestClock(DateTimeOffset start) => origin = new(start, System.GetTimestamp());

    /// <summary>
    /// Now on the machine's own clock: the instant for a test whose other party judges time by
    /// its own clock (a browser, <c>CookieContainer</c>, Redis expiry, s3rver's
    /// <c>LastModified</c>). Every other test names its instant with <see cref="At"/>.
    /// </summary>
    public static DateTimeOffset RealNow => System.GetUtcNow();

    public override DateTimeOffset GetUtcNow()
    {
        var o = origin;
        return o.At + System.GetElapsedTime(o.Timestamp);
    }

    /// <summary>The clock now reads <paramref name="instant"/>, and runs on from there.</summary>
    public void At(DateTimeOffset instant) => origin = new(instant, System.GetTimestamp());

    public void Advance(TimeSpan by) => At(GetUtcNow() + by);

    /// <summary>An instant as the app's settings take it (<c>CAMPAIGN_ENDS_AT</c>): local time in Tokyo.</summary>
    public static string InTokyo(DateTimeOffset instant) =>
        TimeZoneInfo
            .ConvertTime(instant, TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo"))
            .ToString(
                "yyyy-MM-ddTHH:mm",
                global::System.Globalization.CultureInfo.InvariantCulture
            );
}
