namespace Campaign.Tests;

/// <summary>Real time, shifted by what a test asks: for expiry without waiting. Timers stay real.</summary>
public sealed class TestClock : TimeProvider
{
    public TimeSpan Offset { get; set; }

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;

    public void Advance(TimeSpan by) => Offset += by;
}
