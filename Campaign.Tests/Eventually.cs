using System.Diagnostics;

namespace Campaign.Tests;

public static class Eventually
{
    /// <summary>
    /// Waits for what happens after a response (mail sent and recorded), up to 20 s or
    /// <paramref name="within"/>. The patience is measured on the monotonic clock, which no moved
    /// clock of a test run changes.
    /// </summary>
    public static async Task Until(
        Func<Task<bool>> condition,
        TimeSpan? within = null,
        string what = "the condition"
    )
    {
        var patience = within ?? TimeSpan.FromSeconds(20);
        var waited = Stopwatch.StartNew();
        while (!await condition())
        {
            if (waited.Elapsed > patience)
                throw new Xunit.Sdk.XunitException(
                    $"{what} never held within {patience.TotalSeconds} s"
                );
            await Task.Delay(100);
        }
    }
}
