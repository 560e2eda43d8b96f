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
    ConfigurationOptions Redis
)
{
    /// <summary>
    /// Reads and checks every variable, then throws one <see cref="ConfigurationException"/> naming
    /// each one that is missing or malformed, so an operator fixes them all in one go.
    /// </summary>
    public static Settings Load(IConfiguration config, IHostEnvironment environment)
    {
        var env = new EnvironmentReader(config);
        var database = env.Required("DATABASE_URL", DatabaseUrl.Parse);
        var poolSize = env.Optional("DB_POOL_SIZE", 5, WholeNumber(1, 500));
        var schema = env.Optional("DATABASE_SCHEMA", "public", SqlIdentifier);
        var redis = env.Required("REDIS_URL", RedisUrl.Parse);
        var dyno = env.Optional("DYNO", "local", value => value);

        if (env.Problems.Count > 0)
            throw new ConfigurationException(environment.EnvironmentName, env.Problems);

        // Heroku Postgres plans allow few connections: DB_POOL_SIZE x dynos must fit the plan.
        // https://devcenter.heroku.com/articles/heroku-postgres-plans
        database!.MaxPoolSize = poolSize;
        database.MinPoolSize = 0;
        database.Timeout = 5;
        database.CommandTimeout = 10;
        database.ApplicationName = $"campaign {dyno}";
        return new Settings(database.ConnectionString, schema, redis!);
    }

    static Func<string, int> WholeNumber(int min, int max) =>
        value =>
            int.TryParse(value, out var n) && n >= min && n <= max
                ? n
                : throw new FormatException($"must be a whole number from {min} to {max}");

    static string SqlIdentifier(string value) =>
        System.Text.RegularExpressions.Regex.IsMatch(value, "^[a-z_][a-z0-9_]{0,62}$")
            ? value
            : throw new FormatException("must be a lower-case PostgreSQL schema name");
}

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
