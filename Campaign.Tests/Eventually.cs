namespace Campaign.Tests;

public static class Eventually
{
    /// <summary>Waits for what happens after a response (mail sent and recorded), up to 20 s.</summary>
    public static async Task Until(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new Xunit.Sdk.XunitException("the condition never held");
            await Task.Delay(100);
        }
    }
}
