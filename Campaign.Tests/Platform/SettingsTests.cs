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

    /// <summary>Everything Production needs, valid; a test changes what it is about.</summary>
    static Dictionary<string, string?> Complete(Dictionary<string, string?> changes)
    {
        var variables = new Dictionary<string, string?>
        {
            ["DATABASE_URL"] = "postgres://u:p@db.example.com:5432/app",
            ["REDIS_URL"] = "rediss://:p@cache.example.com:6380",
            ["APP_BASE_URL"] = "https://campaign.example.com",
            ["SENDGRID_API_KEY"] = "SG.key",
            ["MAIL_FROM"] = "Campaign <campaign@example.com>",
            ["S3_BUCKET"] = "photos",
            ["AWS_ACCESS_KEY_ID"] = "AKIA",
            ["AWS_SECRET_ACCESS_KEY"] = "secret",
        };
        foreach (var (name, value) in changes)
            variables[name] = value;
        return variables;
    }

    [Fact]
    public void Printed_settings_show_no_password_key_or_address_of_a_person()
    {
        var settings = Load(
            "Production",
            Complete(
                new()
                {
                    ["DATABASE_URL"] = "postgres://u:db-password-1@db.example.com:5432/app",
                    ["REDIS_URL"] = "rediss://:redis-password-2@cache.example.com:6380",
                    ["SENDGRID_API_KEY"] = "SG.sendgrid-key-3",
                    ["AWS_SECRET_ACCESS_KEY"] = "aws-secret-4",
                    ["OPERATOR_EMAIL"] = "operator.person@example.com",
                }
            )
        );

        var printed = settings.ToString();

        Assert.Contains("AppBaseUrl = https://campaign.example.com/", printed);
        foreach (
            var secret in new[]
            {
                "db-password-1",
                "redis-password-2",
                "SG.sendgrid-key-3",
                "aws-secret-4",
                "operator.person",
            }
        )
            Assert.DoesNotContain(secret, printed);
    }

    [Fact]
    public void One_message_names_every_missing_variable()
    {
        var error = Assert.Throws<ConfigurationException>(() => Load("Production", []));

        Assert.Equal(
            [
                "DATABASE_URL is not set",
                "REDIS_URL is not set",
                "APP_BASE_URL is not set",
                "SENDGRID_API_KEY is not set",
                "MAIL_FROM is not set",
                "S3_BUCKET is not set",
                "AWS_ACCESS_KEY_ID is not set",
                "AWS_SECRET_ACCESS_KEY is not set",
            ],
            error.Problems
        );
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
                "APP_BASE_URL is not set",
                "SENDGRID_API_KEY is not set",
                "MAIL_FROM is not set",
                "S3_BUCKET is not set",
                "AWS_ACCESS_KEY_ID is not set",
                "AWS_SECRET_ACCESS_KEY is not set",
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
            Complete(new() { ["DB_POOL_SIZE"] = "7", ["DYNO"] = "web.2" })
        );

        var database = new Npgsql.NpgsqlConnectionStringBuilder(settings.DatabaseConnectionString);
        Assert.Equal(
            (7, "campaign web.2", "public"),
            (database.MaxPoolSize, database.ApplicationName, settings.DatabaseSchema)
        );
    }

    [Fact]
    public void Development_needs_no_mail_configuration_and_delivers_to_the_local_mailbox()
    {
        var settings = Load(
            "Development",
            new()
            {
                ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:15432/campaign",
                ["REDIS_URL"] = "redis://127.0.0.1:16379",
                ["APP_BASE_URL"] = "http://localhost:5000",
                ["S3_BUCKET"] = "photos",
                ["AWS_ACCESS_KEY_ID"] = "AKIA",
                ["AWS_SECRET_ACCESS_KEY"] = "secret",
            }
        );

        Assert.Null(settings.Mail.SendGridApiKey);
        Assert.Equal("campaign@example.test", settings.Mail.From.Address);
    }

    [Fact]
    public void The_campaign_period_is_read_in_the_campaign_time_zone()
    {
        var settings = Load(
            "Production",
            Complete(
                new()
                {
                    ["CAMPAIGN_STARTS_AT"] = "2026-12-01T10:00",
                    ["CAMPAIGN_ENDS_AT"] = "2026-12-25",
                }
            )
        );

        Assert.Equal(DateTimeOffset.Parse("2026-12-01T01:00:00Z"), settings.Campaign.StartsAt);
        Assert.Equal(DateTimeOffset.Parse("2026-12-24T15:00:00Z"), settings.Campaign.EndsAt);
        Assert.Equal("Asia/Tokyo", settings.Campaign.TimeZone.Id);
    }

    [Theory]
    [InlineData(
        "CAMPAIGN_TIME_ZONE",
        "Mars/Olympus",
        "CAMPAIGN_TIME_ZONE is not a known time zone (use an IANA name like Asia/Tokyo)"
    )]
    [InlineData(
        "CAMPAIGN_STARTS_AT",
        "next monday",
        "CAMPAIGN_STARTS_AT must be a local date and time like 2026-12-01T10:00 (in CAMPAIGN_TIME_ZONE)"
    )]
    [InlineData(
        "APP_BASE_URL",
        "campaign.example.com",
        "APP_BASE_URL must be an absolute http(s) URL without a query, like https://campaign.example.com"
    )]
    [InlineData(
        "MAIL_FROM",
        "Campaign",
        "MAIL_FROM must be an address like campaign@example.com or Campaign <campaign@example.com>"
    )]
    [InlineData(
        "RATE_LIMIT_PER_MINUTE",
        "-1",
        "RATE_LIMIT_PER_MINUTE must be a whole number from 0 to 100000"
    )]
    public void Malformed_values_are_named_with_what_is_expected(
        string name,
        string value,
        string problem
    )
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            Load("Production", new() { [name] = value })
        );

        Assert.Contains(problem, error.Problems);
    }

    [Fact]
    public void The_Bucketeer_add_on_wins_over_plain_AWS_variables()
    {
        var error = Assert.Throws<ConfigurationException>(() =>
            Load(
                "Production",
                new()
                {
                    ["BUCKETEER_BUCKET_NAME"] = "bucketeer-1234",
                    ["AWS_ACCESS_KEY_ID"] = "ignored",
                }
            )
        );

        Assert.Contains("BUCKETEER_AWS_ACCESS_KEY_ID is not set", error.Problems);
        Assert.Contains("BUCKETEER_AWS_SECRET_ACCESS_KEY is not set", error.Problems);
        Assert.DoesNotContain("S3_BUCKET is not set", error.Problems);
    }

    sealed class Environment(string name) : IHostEnvironment
    {
        public string EnvironmentName { get; set; } = name;
        public string ApplicationName { get; set; } = "Campaign";
        public string ContentRootPath { get; set; } = "/";
        public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
    }
}
