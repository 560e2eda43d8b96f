using System.Runtime.CompilerServices;
using JasperFx.CommandLine;

namespace Campaign.Tests;

/// <summary>The real services the tests run against, as bin/test (or Heroku CI) provides them.</summary>
public static class TestServices
{
    public static string DatabaseUrl => Required("DATABASE_URL");
    public static string RedisUrl => Required("REDIS_URL");

    /// <summary>
    /// REDIS_URL with a database of its own: each group of tests that resets or relies on Redis
    /// keys uses its own, so that one group's reset never signs out another's visitors.
    /// </summary>
    public static string RedisDatabase(int number) =>
        new UriBuilder(RedisUrl) { Path = $"/{number}" }.Uri.ToString();

    /// <summary>The S3-compatible server (s3rver) and its bucket, as bin/test starts them.</summary>
    public static Dictionary<string, string?> S3 =>
        new()
        {
            ["S3_ENDPOINT"] = Required("S3_ENDPOINT"),
            ["S3_BUCKET"] = Required("S3_BUCKET"),
            ["AWS_ACCESS_KEY_ID"] = Required("AWS_ACCESS_KEY_ID"),
            ["AWS_SECRET_ACCESS_KEY"] = Required("AWS_SECRET_ACCESS_KEY"),
            ["AWS_REGION"] = Required("AWS_REGION"),
        };

    /// <summary>
    /// A published process's whole environment, as Heroku's config vars would be: the app reads
    /// nothing else. Callers change what their test is about.
    /// </summary>
    public static Dictionary<string, string?> Heroku(
        string dyno,
        string schema,
        string sendGridUrl = "http://127.0.0.1:9",
        int redisDatabase = 3,
        string environment = "Production"
    ) =>
        new(S3)
        {
            ["ASPNETCORE_ENVIRONMENT"] = environment,
            ["DYNO"] = dyno,
            ["DATABASE_URL"] = DatabaseUrl,
            ["REDIS_URL"] = RedisDatabase(redisDatabase),
            ["DATABASE_SCHEMA"] = schema,
            ["APP_BASE_URL"] = "https://campaign.example.test",
            ["SENDGRID_API_KEY"] = "SG.test",
            ["SENDGRID_API_URL"] = sendGridUrl,
            ["MAIL_FROM"] = "campaign@example.test",
            // The suite enters many addresses at example.jp within an hour.
            ["UNCONFIRMED_MAIL_PER_DOMAIN_PER_HOUR"] = "1000000",
            ["UNCONFIRMED_MAIL_PER_HOUR"] = "1000000",
        };

    /// <summary>
    /// The documents of a published app's schema, read and written as the app stores them (its
    /// release phase applied the schema).
    /// </summary>
    public static Marten.DocumentStore Store(string schema) =>
        Marten.DocumentStore.For(options =>
        {
            options.Connection(Campaign.Platform.DatabaseUrl.Parse(DatabaseUrl).ConnectionString);
            options.DatabaseSchemaName = schema;
            options.UseSystemTextJsonForSerialization(
                Weasel.Core.EnumStorage.AsString,
                Weasel.Core.Casing.CamelCase
            );
            options.AutoCreateSchemaObjects = JasperFx.AutoCreate.None;
            Campaign.Features.Entering.Entrant.Configure(options);
            Campaign.Mail.OutboxMessage.Configure(options);
            Campaign.Features.Photos.PhotoUpload.Configure(options);
        });

    /// <summary>The app as `dotnet publish` built it (bin/test publishes it before testing).</summary>
    public static string PublishedApp => Required("CAMPAIGN_PUBLISHED_APP");

    static string Required(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{name} is not set: run the tests with bin/test, which starts PostgreSQL, Redis and S3 and publishes the app."
            );

    [ModuleInitializer]
    internal static void StartHostsUnderTest() =>
        // Program ends with RunJasperFxCommands; under WebApplicationFactory it must start the host.
        JasperFxEnvironment.AutoStartHost = true;
}
