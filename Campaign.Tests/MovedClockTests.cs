using System.Diagnostics;

namespace Campaign.Tests;

/// <summary>
/// bin/test's second pass (CAMPAIGN_TEST_CLOCK_AT) runs every process on a clock moved by
/// libfaketime: a pass on the real clock, because the library was not loaded where the tests run,
/// would prove nothing, and fails here. On the first pass nothing may move the clock.
/// </summary>
public sealed class MovedClockTests
{
    static readonly string? MovedTo = Environment.GetEnvironmentVariable("CAMPAIGN_TEST_CLOCK_AT");

    [Fact]
    public void The_test_process_reads_the_clock_of_its_pass()
    {
        var preload = Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "";
        if (MovedTo is { Length: > 0 } at)
        {
            var target = DateTimeOffset.Parse(at);
            Assert.Contains("libfaketime", preload);
            // The pass started there, and a whole pass takes far less than two hours.
            Assert.InRange(DateTimeOffset.UtcNow, target, target + TimeSpan.FromHours(2));
        }
        else
            Assert.DoesNotContain("libfaketime", preload);
    }

    [Fact]
    public async Task A_process_the_tests_start_reads_the_same_clock()
    {
        using var date = Process.Start(
            new ProcessStartInfo("date", "-u +%s") { RedirectStandardOutput = true }
        )!;
        var seconds = long.Parse((await date.StandardOutput.ReadToEndAsync()).Trim());
        await date.WaitForExitAsync();

        Assert.InRange(
            DateTimeOffset.FromUnixTimeSeconds(seconds),
            DateTimeOffset.UtcNow - TimeSpan.FromMinutes(1),
            DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1)
        );
    }
}
