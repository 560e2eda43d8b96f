namespace Campaign.Tests;

/// <summary>
/// Runs a published process on a clock of its own with libfaketime (Debian's <c>faketime</c>
/// package, which bin/test installs): <c>LD_PRELOAD</c> and an offset from the machine's clock, as
/// if the process were started on another day. Monotonic clocks (time-outs, timers) stay real.
/// </summary>
public static class MovedClock
{
    static readonly string Library = Environment.GetEnvironmentVariable("CAMPAIGN_FAKETIME_LIB")
        is { Length: > 0 } path
        ? path
        : "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

    /// <summary>
    /// The machine's own clock: this process's, less the offset that bin/test's moved-clock pass
    /// runs it at (a child's offset counts from the machine's clock, not from its parent's).
    /// </summary>
    public static DateTimeOffset MachineNow =>
        DateTimeOffset.UtcNow
        - (
            (Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "").Contains("libfaketime")
            && long.TryParse(Environment.GetEnvironmentVariable("FAKETIME"), out var seconds)
                ? TimeSpan.FromSeconds(seconds)
                : TimeSpan.Zero
        );

    /// <summary>The instant at that minute and second of <paramref name="instant"/>'s hour.</summary>
    public static DateTimeOffset AtMinute(DateTimeOffset instant, int minute, int second) =>
        new DateTimeOffset(
            instant.Year,
            instant.Month,
            instant.Day,
            instant.Hour,
            0,
            0,
            instant.Offset
        ) + new TimeSpan(0, minute, second);

    /// <summary>The variables that start a process with its clock reading <paramref name="at"/>.</summary>
    public static Dictionary<string, string?> At(DateTimeOffset at)
    {
        if (!File.Exists(Library))
            throw new InvalidOperationException(
                $"libfaketime is not installed ({Library}): bin/test installs it (apt-get install faketime), or set CAMPAIGN_FAKETIME_LIB to where it is"
            );
        return new()
        {
            ["LD_PRELOAD"] = Library,
            ["FAKETIME"] = $"{(long)(at - MachineNow).TotalSeconds:+0;-0}",
            ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1",
            // Debian's build turns this on for glibc; with it .NET's timed waits end at once.
            ["FAKETIME_FORCE_MONOTONIC_FIX"] = "0",
        };
    }
}
