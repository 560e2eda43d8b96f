using Campaign.Platform;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;

namespace Campaign.Tests.Platform;

public sealed class SettingsTests
{
    static Settings Load(string environment, Dictionary<string, string?> variables) =>
        Settings.Load(
            new ConfigurationBuilder().AddInMemoryCollection(variables).Build(),
            new Environment(environment)
        );

    [Fact]
    public void One_message_names_every_missing_variable()
    {
        var error = Assert.Throws<ConfigurationException>(() => Load("Production", []));

        Assert.Equal(["DATABASE_URL is not set", "REDIS_URL is not set"], error.Problems);
        Assert.Contains("heroku config:set", error.Message);
    }

    [Fact]
    public void Malformed_and_missing_variables_are_reported_together_without_their_values()
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            Load(
                "Staging",
                new()
                {
                    ["DATABASE_URL"] = "mysql://u:hunter2@db/app",
                    ["DB_POOL_SIZE"] = "many",
                    ["DATABASE_SCHEMA"] = "Robert'); drop table x;--",
                }
            )
        );

        Assert.Equal(
            [
                "DATABASE_URL is not a postgres:// URL (expected postgres://user:password@host:port/database)",
                "DB_POOL_SIZE must be a whole number from 1 to 500",
                "DATABASE_SCHEMA must be a lower-case PostgreSQL schema name",
                "REDIS_URL is not set",
            ],
            error.Problems
        );
        Assert.DoesNotContain("hunter2", error.Message);
    }

    [Fact]
    public void In_development_the_message_points_to_bin_dev()
    {
        var error = Assert.Throws<ConfigurationException>(() => Load("Development", []));

        Assert.Contains("bin/dev", error.Message);
    }

    [Fact]
    public void The_pool_size_and_a_name_for_the_connections_reach_the_connection_string()
    {
        var settings = Load(
            "Production",
            new()
            {
                ["DATABASE_URL"] = "postgres://u:p@db.example.com:5432/app",
                ["REDIS_URL"] = "rediss://:p@cache.example.com:6380",
                ["DB_POOL_SIZE"] = "7",
                ["DYNO"] = "web.2",
            }
        );

        var database = new Npgsql.NpgsqlConnectionStringBuilder(settings.DatabaseConnectionString);
        Assert.Equal(
            (7, "campaign web.2", "public"),
            (database.MaxPoolSize, database.ApplicationName, settings.DatabaseSchema)
        );
    }

    sealed class Environment(string name) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = name;
        public string ApplicationName { get; set; } = "Campaign";
        public string ContentRootPath { get; set; } = "/";
        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }
}
