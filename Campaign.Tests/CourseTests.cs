using System.Text.Json;
using System.Text.RegularExpressions;

namespace Campaign.Tests;

/// <summary>
/// The course names files, variables and commands; this keeps it from silently rotting: every
/// path it names exists, every config variable it names is described in app.json, and every admin
/// command it names is one the app has.
/// </summary>
public sealed partial class CourseTests
{
    internal static readonly string Root = FindRoot();

    static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (
            directory is not null && !File.Exists(Path.Combine(directory.FullName, "Campaign.slnx"))
        )
            directory = directory.Parent;
        return directory?.FullName
            ?? throw new InvalidOperationException("Campaign.slnx not found above the test run");
    }

    static string Course => File.ReadAllText(Path.Combine(Root, "README.ja.md"));

    public static TheoryData<string> Documents =>
        new() { "README.ja.md", "README.md", "docs/ja/operations.md" };

    [Theory]
    [MemberData(nameof(Documents))]
    public void Every_path_the_documents_name_exists(string document)
    {
        var text = File.ReadAllText(Path.Combine(Root, document));
        var missing = NamedPath()
            .Matches(text)
            .Select(m => m.Groups[1].Value.TrimEnd('/', '.', ','))
            .Distinct()
            // What `dotnet publish` builds (Campaign/bin/publish) is not in a fresh clone.
            .Where(path => !path.StartsWith("Campaign/bin/"))
            .Where(path =>
                !File.Exists(Path.Combine(Root, path))
                && !Directory.Exists(Path.Combine(Root, path))
            )
            .ToList();

        Assert.True(
            missing.Count == 0,
            $"{document} names paths that do not exist: {string.Join(", ", missing)}"
        );
    }

    [Fact]
    public void Every_config_variable_the_course_names_is_described_in_app_json()
    {
        using var appJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "app.json")));
        var described = appJson
            .RootElement.GetProperty("env")
            .EnumerateObject()
            .Select(p => p.Name)
            .ToHashSet();
        // Set by Heroku or by the add-ons themselves, or by the tests alone.
        string[] fromThePlatform =
        [
            "PORT",
            "DYNO",
            "CI",
            "HEROKU_DISABLE_AUTOUPDATE",
            "SNAPSHOOTER_STRICT_MODE",
            "CAMPAIGN_TEST_CLOCK_AT", // bin/test's moved-clock pass
        ];
        string[] notVariables = ["WHEN_REQUIRED"]; // an AWS SDK setting the course quotes
        var named = ConfigVariable().Matches(Course).Select(m => m.Groups[1].Value).Distinct();

        var undescribed = named
            .Where(v =>
                !described.Contains(v)
                && !fromThePlatform.Contains(v)
                && !notVariables.Contains(v)
                && !v.StartsWith("BUCKETEER_")
                && !v.StartsWith("AWS_")
                && !v.StartsWith("PGBOUNCER_") // the PgBouncer buildpack's own settings
            )
            .ToList();

        Assert.True(undescribed.Count == 0, $"not in app.json: {string.Join(", ", undescribed)}");
    }

    [Fact]
    public void Every_admin_command_the_course_names_exists()
    {
        string[] commands =
        [
            "db-apply",
            "db-assert",
            "outbox-drain",
            "nightly-mail",
            "export",
            "import",
            "s3-setup",
            "seed-entrants",
            "retention-purge",
            "analytics-export",
        ];
        string[] roles = ["clock"]; // a role of the executable, not a command
        var named = AdminCommand().Matches(Course).Select(m => m.Groups[1].Value).Distinct();
        var sources = string.Join(
            "\n",
            Directory
                .GetFiles(Path.Combine(Root, "Campaign"), "*.cs", SearchOption.AllDirectories)
                .Select(File.ReadAllText)
        );

        Assert.All(named, command => Assert.Contains(command, commands.Concat(roles)));
        Assert.All(
            commands.Where(c => !c.StartsWith("db-")),
            command => Assert.Contains($"Name = \"{command}\"", sources)
        );
    }

    [Fact]
    public void The_course_names_every_job_of_the_clock_and_no_other()
    {
        var step7 = Course[Course.IndexOf("## STEP 7")..Course.IndexOf("## STEP 8")];
        var table = step7[
            step7.IndexOf("### clock が何をいつするか")..step7.IndexOf(
                "### clock dyno と Heroku Scheduler"
            )
        ];
        var named = ClockJobRow().Matches(table).Select(m => m.Groups[1].Value);

        Assert.Equal(Campaign.Clock.Schedule.Jobs.Select(j => j.Name), named);
    }

    [GeneratedRegex(@"^\| `([A-Za-z]+)` \|", RegexOptions.Multiline)]
    private static partial Regex ClockJobRow();

    // `Campaign/...`, `bin/...`, `docs/...`, `bench/...` and root files, as the documents write them.
    [GeneratedRegex(
        @"`((?:Campaign|Campaign\.Tests|bin|docs|bench)/[A-Za-z0-9_./-]+|Procfile|app\.json|package\.json|Campaign\.slnx|Directory\.Packages\.props)`"
    )]
    private static partial Regex NamedPath();

    [GeneratedRegex(@"`([A-Z][A-Z0-9]*_[A-Z0-9_]+)(?:=[^`]*)?`")]
    private static partial Regex ConfigVariable();

    [GeneratedRegex(@"\./Campaign ([a-z][a-z0-9-]+)")]
    private static partial Regex AdminCommand();
}
