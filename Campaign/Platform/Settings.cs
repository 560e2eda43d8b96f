using System.Net.Mail;
using Npgsql;
using StackExchange.Redis;

namespace Campaign.Platform;

/// <summary>
/// Everything the app reads from its environment (Heroku config vars), parsed once at boot.
/// Features receive typed values from here and never read environment variables themselves.
/// Every variable is described in app.json.
/// </summary>
public sealed record Settings(
    string DatabaseConnectionString,
    string DatabaseSchema,
    ConfigurationOptions Redis,
    Uri AppBaseUrl,
    MailSettings Mail,
    CampaignSettings Campaign,
    int RateLimitPerMinute,
    bool BehindProxy,
    S3Settings S3,
    NightlySettings Nightly,
    RetentionSettings Retention,
    bool AllowSeed,
    string Dyno,
    MailBudgetSettings MailBudget,
    string? AnalyticsConnectionString,
    EntryBatchSettings EntryBatch
)
{
    /// <summary>The operators (OPERATOR_EMAILS): the dashboard's people, and the summaries' readers.</summary>
    public IReadOnlyList<MailAddress> Operators => Nightly.Operators;

    /// <summary>
    /// Never prints the connection strings (the database's and Redis's passwords) nor the
    /// operator's address: records print every property by default.
    /// </summary>
    public override string ToString() =>
        $"Settings {{ DatabaseSchema = {DatabaseSchema}, AppBaseUrl = {AppBaseUrl}, Mail = {Mail}, "
        + $"Campaign = {Campaign}, RateLimitPerMinute = {RateLimitPerMinute}, BehindProxy = {BehindProxy}, "
        + $"S3 = {S3}, Nightly = {Nightly}, Retention = {Retention}, AllowSeed = {AllowSeed}, Dyno = {Dyno}, "
        + $"MailBudget = {MailBudget}, EntryBatch = {EntryBatch} }}";

    /// <summary>
    /// Reads and checks every variable, then throws one <see cref="ConfigurationException"/> naming
    /// each one that is missing or malformed, so an operator fixes them all in one go.
    /// </summary>
    public static Settings Load(IConfiguration config, IHostEnvironment environment)
    {
        var development = environment.IsDevelopment();
        var env = new EnvironmentReader(config);
        var database = env.Required("DATABASE_URL", DatabaseUrl.Parse);
        var poolSize = env.Optional("DB_POOL_SIZE", 5, WholeNumber(1, 500));
        var schema = env.Optional("DATABASE_SCHEMA", "public", SqlIdentifier);
        var redis = env.Required("REDIS_URL", RedisUrl.Parse);
        var dyno = env.Optional("DYNO", "local", value => value);
        var baseUrl = env.Required("APP_BASE_URL", AbsoluteHttpUrl);
        // Without a SendGrid key, Development delivers mail to the local mailbox page /dev/mail.
        var sendGridKey = development
            ? env.Optional<string?>("SENDGRID_API_KEY", null, value => value)
            : env.Required("SENDGRID_API_KEY", value => value);
        var mailFrom = development
            ? env.Optional(
                "MAIL_FROM",
                new MailAddress("campaign@example.test", "Campaign"),
                MailFrom
            )
            : env.Required("MAIL_FROM", MailFrom);
        var sendGridUrl = env.Optional<Uri?>("SENDGRID_API_URL", null, AbsoluteHttpUrl);
        var timeZone = env.Optional(
            "CAMPAIGN_TIME_ZONE",
            TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo"),
            TimeZone
        );
        var startsAt = env.Optional<DateTime?>("CAMPAIGN_STARTS_AT", null, v => LocalDateTime(v));
        var endsAt = env.Optional<DateTime?>("CAMPAIGN_ENDS_AT", null, v => LocalDateTime(v));
        var rateLimit = env.Optional("RATE_LIMIT_PER_MINUTE", 20, WholeNumber(0, 100_000));
        var mailPerDomain = env.Optional(
            "UNCONFIRMED_MAIL_PER_DOMAIN_PER_HOUR",
            500,
            WholeNumber(1, 100_000_000)
        );
        var mailInAll = env.Optional(
            "UNCONFIRMED_MAIL_PER_HOUR",
            50_000,
            WholeNumber(1, 100_000_000)
        );
        // On Heroku (DYNO is set) the router is in front; bin/dev's nginx says so explicitly.
        var behindProxy =
            config["DYNO"] is { Length: > 0 }
            || env.Optional("TRUST_FORWARDED_HEADERS", false, Boolean);
        var s3 = ReadS3(config, env);
        var nightlyAt = env.Optional("NIGHTLY_MAIL_AT", new TimeOnly(20, 0), TimeOfDay);
        // OPERATOR_EMAILS names every operator; OPERATOR_EMAIL, its older single form, still counts.
        var operators = env.Optional<IReadOnlyList<MailAddress>>("OPERATOR_EMAILS", [], MailList)
            .Concat(env.Optional<IReadOnlyList<MailAddress>>("OPERATOR_EMAIL", [], MailList))
            .DistinctBy(a => a.Address.ToLowerInvariant())
            .ToList();
        var allowSeed = env.Optional("ALLOW_SEED", false, Boolean);
        var pendingDays = env.Optional("PENDING_RETENTION_DAYS", 7, WholeNumber(1, 365));
        var retentionDays = env.Optional("RETENTION_DAYS", 90, WholeNumber(0, 3650));
        var postalAddress = env.Optional<string?>("SENDER_POSTAL_ADDRESS", null, OneLine);
        // A follower of the database (Heroku Postgres, Standard tier or above) for the dashboard.
        var analytics = env.Optional<string?>(
            "ANALYTICS_DATABASE_URL",
            null,
            value => DatabaseUrl.Parse(value).ConnectionString
        );
        // Group commit (Features/Entering/EntryBatches.cs): how many entries at most in one batch
        // (each takes a lock; PostgreSQL's lock table holds about 64 per allowed connection), how
        // long a writer waits for more, and how many batches a process writes at once (each on a
        // connection of the pool).
        var batchMax = env.Optional("ENTRY_BATCH_MAX", 50, WholeNumber(1, 64));
        var batchWindow = env.Optional("ENTRY_BATCH_WINDOW_MS", 0, WholeNumber(0, 50));
        var batchWriters = env.Optional("ENTRY_BATCH_WRITERS", 2, WholeNumber(1, 16));
        if (startsAt is { } start && endsAt is { } end && end <= start)
            env.Problems.Add("CAMPAIGN_ENDS_AT must be later than CAMPAIGN_STARTS_AT");

        if (env.Problems.Count > 0)
            throw new ConfigurationException(environment.EnvironmentName, env.Problems);

        // Heroku Postgres plans allow few connections: DB_POOL_SIZE x dynos must fit the plan.
        // https://devcenter.heroku.com/articles/heroku-postgres-plans
        database!.MaxPoolSize = poolSize;
        database.MinPoolSize = 0;
        database.Timeout = 3;
        database.CommandTimeout = 10;
        // Statements run twice on a connection are prepared on it: PostgreSQL then skips parsing
        // and planning them (a third of its CPU per entry). A pooled connection keeps its prepared
        // statements, and it is not reset when it is handed back: the app sets no session state
        // (its locks end with their transactions). Heroku Postgres is reached directly; a
        // transaction-mode PgBouncer in between would need max_prepared_statements.
        database.MaxAutoPrepare = 64;
        database.AutoPrepareMinUsages = 2;
        database.NoResetOnClose = true;
        database.ApplicationName = $"campaign {dyno}";
        return new Settings(
            database.ConnectionString,
            schema,
            redis!,
            baseUrl!,
            new MailSettings(sendGridKey, mailFrom!, sendGridUrl, postalAddress),
            new CampaignSettings(At(startsAt, timeZone), At(endsAt, timeZone), timeZone),
            rateLimit,
            behindProxy,
            s3!,
            new NightlySettings(nightlyAt, operators),
            new RetentionSettings(TimeSpan.FromDays(pendingDays), TimeSpan.FromDays(retentionDays)),
            allowSeed,
            dyno,
            new MailBudgetSettings(mailPerDomain, mailInAll),
            analytics,
            new EntryBatchSettings(
                batchMax,
                TimeSpan.FromMilliseconds(batchWindow),
                // A connection is left for everything else the dyno does (sign-in, my page).
                Math.Max(1, Math.Min(batchWriters, poolSize - 1))
            )
        );
    }

    /// <summary>
    /// The bucket: from the Bucketeer add-on (BUCKETEER_*) when it is attached, else from AWS_* and
    /// S3_BUCKET; S3_ENDPOINT points at an S3-compatible server instead of AWS (local development).
    /// https://devcenter.heroku.com/articles/bucketeer
    /// </summary>
    static S3Settings? ReadS3(IConfiguration config, EnvironmentReader env)
    {
        var bucketeer = config["BUCKETEER_BUCKET_NAME"] is { Length: > 0 };
        var prefix = bucketeer ? "BUCKETEER_" : "";
        var bucket = env.Required(
            bucketeer ? "BUCKETEER_BUCKET_NAME" : "S3_BUCKET",
            value => value
        );
        var accessKey = env.Required($"{prefix}AWS_ACCESS_KEY_ID", value => value);
        var secretKey = env.Required($"{prefix}AWS_SECRET_ACCESS_KEY", value => value);
        var region = env.Optional($"{prefix}AWS_REGION", "us-east-1", Region);
        var endpoint = env.Optional<Uri?>("S3_ENDPOINT", null, AbsoluteHttpUrl);
        return bucket is null || accessKey is null || secretKey is null
            ? null
            : new S3Settings(bucket, accessKey, secretKey, region, endpoint);
    }

    static string Region(string value) =>
        System.Text.RegularExpressions.Regex.IsMatch(value, "^[a-z]{2}(-[a-z]+)+-[0-9]$")
            ? value
            : throw new FormatException("must be an AWS region like us-east-1 or ap-northeast-1");

    static TimeOnly TimeOfDay(string value) =>
        TimeOnly.TryParseExact(value, "HH:mm", out var time)
            ? time
            : throw new FormatException("must be a time of day like 20:00 (in CAMPAIGN_TIME_ZONE)");

    static bool Boolean(string value) =>
        bool.TryParse(value, out var flag)
            ? flag
            : throw new FormatException("must be true or false");

    static DateTimeOffset? At(DateTime? local, TimeZoneInfo zone) =>
        local is { } time ? new DateTimeOffset(time, zone.GetUtcOffset(time)) : null;

    static Uri AbsoluteHttpUrl(string value) =>
        Uri.TryCreate(value.TrimEnd('/'), UriKind.Absolute, out var uri)
        && uri.Scheme is "http" or "https"
        && uri.Query.Length == 0
            ? uri
            : throw new FormatException(
                "must be an absolute http(s) URL without a query, like https://campaign.example.com"
            );

    static MailAddress MailFrom(string value)
    {
        try
        {
            return new MailAddress(value);
        }
        catch (FormatException)
        {
            throw new FormatException(
                "must be an address like campaign@example.com or Campaign <campaign@example.com>"
            );
        }
    }

    static string OneLine(string value) =>
        value.Any(char.IsControl)
            ? throw new FormatException("must be one line, like 東京都千代田区丸の内1-1-1")
            : value;

    static TimeZoneInfo TimeZone(string value) =>
        TimeZoneInfo.TryFindSystemTimeZoneById(value, out var zone)
            ? zone
            : throw new FormatException(
                "is not a known time zone (use an IANA name like Asia/Tokyo)"
            );

    static DateTime LocalDateTime(string value) =>
        DateTime.TryParseExact(
            value,
            ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd"],
            System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.None,
            out var time
        )
            ? DateTime.SpecifyKind(time, DateTimeKind.Unspecified)
            : throw new FormatException(
                "must be a local date and time like 2026-12-01T10:00 (in CAMPAIGN_TIME_ZONE)"
            );

    static Func<string, int> WholeNumber(int min, int max) =>
        value =>
            int.TryParse(value, out var n) && n >= min && n <= max
                ? n
                : throw new FormatException($"must be a whole number from {min} to {max}");

    /// <summary>Addresses separated by commas (<c>a@example.jp, b@example.jp</c>).</summary>
    static IReadOnlyList<MailAddress> MailList(string value) =>
        [
            .. value
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(MailFrom),
        ];

    static string SqlIdentifier(string value) =>
        System.Text.RegularExpressions.Regex.IsMatch(value, "^[a-z_][a-z0-9_]{0,62}$")
            ? value
            : throw new FormatException("must be a lower-case PostgreSQL schema name");
}

/// <summary>How mail leaves: SendGrid's API (with an optional other host, such as a local stub), or
/// in Development without a key, the local mailbox. The sender's postal address goes into every
/// campaign mail (特定電子メール法 asks for it).</summary>
public sealed record MailSettings(
    string? SendGridApiKey,
    MailAddress From,
    Uri? SendGridApiUrl,
    string? SenderPostalAddress = null
)
{
    /// <summary>Never prints the SendGrid key.</summary>
    public override string ToString() =>
        $"MailSettings {{ From = {From.Address}, SendGridApiKey = {(SendGridApiKey is null ? "unset" : "set")}, SendGridApiUrl = {SendGridApiUrl} }}";
}

/// <summary>The S3 bucket for photos; <see cref="Endpoint"/> is set for an S3-compatible server.</summary>
public sealed record S3Settings(
    string Bucket,
    string AccessKeyId,
    string SecretAccessKey,
    string Region,
    Uri? Endpoint
)
{
    /// <summary>Never print the secret (records print every property by default).</summary>
    public override string ToString() => $"S3Settings {{ Bucket = {Bucket}, Region = {Region} }}";
}

/// <summary>
/// Mail to addresses nobody has confirmed yet, per hour: to one recipient domain, and in all. Past
/// either, entering answers 429 (Features/Entering/MailBudget.cs).
/// </summary>
public sealed record MailBudgetSettings(int PerDomainPerHour, int AllPerHour);

/// <summary>
/// Group commit of entries: at most <see cref="Max"/> entries in a batch, a writer's wait for more
/// (<see cref="Window"/>, zero: it takes what is waiting), and <see cref="Writers"/> batches at once
/// per process (fewer than the connection pool's size, so that one connection is left for the rest).
/// </summary>
public sealed record EntryBatchSettings(int Max, TimeSpan Window, int Writers);

/// <summary>The nightly reminder: when (local time in the campaign's zone) and who gets the summary.</summary>
public sealed record NightlySettings(TimeOnly SendAt, IReadOnlyList<MailAddress> Operators)
{
    /// <summary>The operators' addresses are people's: not printed.</summary>
    public override string ToString() =>
        $"NightlySettings {{ SendAt = {SendAt}, Operators = {Operators.Count} }}";
}

/// <summary>
/// How long personal data is kept: an entry never confirmed, from when it was made; everything
/// else, from the end of the campaign (CAMPAIGN_ENDS_AT). The clock purges what is older.
/// </summary>
public sealed record RetentionSettings(TimeSpan Pending, TimeSpan AfterCampaign);

/// <summary>The campaign's period (open when a bound is unset) and the time zone it is told in.</summary>
public sealed record CampaignSettings(
    DateTimeOffset? StartsAt,
    DateTimeOffset? EndsAt,
    TimeZoneInfo TimeZone
);

/// <summary>Reads variables and collects every problem instead of stopping at the first.</summary>
sealed class EnvironmentReader(IConfiguration config)
{
    public List<string> Problems { get; } = [];

    public T? Required<T>(string name, Func<string, T> parse)
        where T : class
    {
        var value = config[name];
        if (string.IsNullOrWhiteSpace(value))
        {
            Problems.Add($"{name} is not set");
            return null;
        }
        return Parse(name, value, parse, fallback: null);
    }

    public T Optional<T>(string name, T fallback, Func<string, T> parse)
    {
        var value = config[name];
        return string.IsNullOrWhiteSpace(value) ? fallback : Parse(name, value, parse, fallback)!;
    }

    T? Parse<T>(string name, string value, Func<string, T> parse, T? fallback)
    {
        try
        {
            return parse(value.Trim());
        }
        catch (FormatException e)
        {
            // The message says what is wrong, never the value: it may hold a password.
            Problems.Add($"{name} {e.Message}");
            return fallback;
        }
    }
}

/// <summary>The configuration is missing or malformed; the message names every variable at fault.</summary>
public sealed class ConfigurationException(string environmentName, IReadOnlyList<string> problems)
    : Exception(Describe(environmentName, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;

    static string Describe(string environmentName, IReadOnlyList<string> problems) =>
        $"Campaign cannot start in {environmentName}: {problems.Count} configuration problem(s).\n"
        + string.Concat(problems.Select(p => $"  - {p}\n"))
        + (
            environmentName == "Development"
                ? "Locally, bin/dev writes these to .env and starts the services they point to."
                : "Set them with `heroku config:set NAME=value`; app.json describes each one."
        );
}
