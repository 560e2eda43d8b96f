using Campaign.Platform;

namespace Campaign.Tests.Platform;

public sealed class StartupTests
{
    [Fact]
    public async Task A_host_without_its_configuration_fails_with_an_exception_naming_every_variable()
    {
        await using var app = CampaignApp.With(
            new() { ["DATABASE_URL"] = "", ["REDIS_URL"] = "redis://:hunter2@cache/zero" }
        );

        var error = Assert.Throws<ConfigurationException>(() => app.CreateClient());

        Assert.Equal(
            [
                "DATABASE_URL is not set",
                "REDIS_URL has a path that is not a database number (/0, /1, ...)",
            ],
            error.Problems
        );
    }
}
