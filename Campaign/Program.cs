using System.Text.Encodings.Web;
using System.Text.Unicode;
using Campaign;
using Campaign.Clock;
using Campaign.Features;
using Campaign.Features.Backup;
using Campaign.Features.Entering;
using Campaign.Features.Ops;
using Campaign.Features.Photos;
using Campaign.Features.Privacy;
using Campaign.Features.Reminders;
using Campaign.Features.SignIn;
using Campaign.Mail;
using Campaign.Pages;
using Campaign.Platform;
using Carter;
using Coravel;
using JasperFx;
using Marten;
using Microsoft.AspNetCore.Http.Timeouts;
using Npgsql;
using StackExchange.Redis;
using Weasel.Core;

// One executable, three roles (Procfile): web, clock, one-off admin commands.
var role = AppRoles.FromArgs(args);

if (role == AppRole.Clock)
{
    // The clock serves no HTTP: a plain host, not a web application. It reads its environment name
    // from ASPNETCORE_ENVIRONMENT like the web process, so one config var sets both.
    var clockConfiguration = new ConfigurationManager();
    clockConfiguration.AddEnvironmentVariables("ASPNETCORE_");
    // `clock run NAME` runs one job now, in this same container (a one-off dyno).
    var runOnce = args is ["clock", "run", ..];
    var clock = Host.CreateApplicationBuilder(
        new HostApplicationBuilderSettings
        {
            Args = args[Math.Min(args.Length, runOnce ? 3 : 1)..],
            Configuration = clockConfiguration,
        }
    );
    clock.ConfigureContainer(new DefaultServiceProviderFactory(ValidatedContainer));
    AddCampaignServices(clock);
    clock.Services.AddScheduler();
    foreach (var job in Schedule.Jobs)
        clock.Services.AddTransient(typeof(ClockJob<>).MakeGenericType(job));
    if (runOnce)
        return await ClockJobs.RunOnce(clock.Build(), args.ElementAtOrDefault(2));
    clock.Services.AddHostedService<ClockProcess>();
    var clockHost = clock.Build();
    clockHost.Services.UseScheduler(Schedule.Define);
    await clockHost.RunAsync();
    return 0;
}

var builder = WebApplication.CreateBuilder(args);
builder.Host.UseDefaultServiceProvider(options =>
{
    options.ValidateOnBuild = ValidatedContainer.ValidateOnBuild;
    options.ValidateScopes = ValidatedContainer.ValidateScopes;
});
var settings = AddCampaignServices(builder);

// Heroku's router gives up on a request after 30 s (H12): answer 503 well before, and free the
// request's database connection. https://devcenter.heroku.com/articles/request-timeout
builder.Services.AddRequestTimeouts(options =>
    options.DefaultPolicy = new RequestTimeoutPolicy
    {
        Timeout = TimeSpan.FromSeconds(15),
        TimeoutStatusCode = StatusCodes.Status503ServiceUnavailable,
    }
);
builder.Services.AddProxyHeaders();
builder.Services.AddHttpsOnly();
builder.Services.AddErrorResponses();
builder.Services.AddRedisSessions(builder.Environment);
builder.Services.AddRazorComponents();

// Japanese stays Japanese in the HTML (UTF-8), instead of becoming &#x...; entities.
builder.Services.AddSingleton(HtmlEncoder.Create(UnicodeRanges.All));
builder.Services.AddAntiforgery(options =>
{
    // __Host-: only from this host over HTTPS, for path / (Sessions.SecureCookieName says why).
    options.Cookie.Name = builder.Environment.IsDevelopment()
        ? "campaign_antiforgery"
        : "__Host-campaign_antiforgery";
    options.Cookie.Path = "/";
    options.Cookie.SecurePolicy = builder.Environment.IsDevelopment()
        ? CookieSecurePolicy.SameAsRequest
        : CookieSecurePolicy.Always;
});
builder.Services.AddSingleton<EntrantCount>();
builder.Services.AddSingleton<Counters>();
builder.Services.AddSingleton<MailBudget>();
builder.Services.AddSingleton<EntryBatches>();
builder.Services.AddSingleton<VisitorKeys>();
builder.Services.AddOpenApi();
builder.Services.AddCarter(configurator: c => c.WithModule<Routes>());

var app = builder.Build();
if (role == AppRole.Web)
    WarmUp.Start(
        app.Services,
        (
            "postgres",
            async s =>
                await (
                    await s.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync()
                ).DisposeAsync()
        ),
        ("redis", s => s.GetRequiredService<IConnectionMultiplexer>().GetDatabase().PingAsync()),
        ("photo bucket", s => Task.FromResult(s.GetRequiredService<PhotoStorage>().Origin())),
        (
            "sign-in mail",
            s => SignInLink.EnsureTemplates(s.GetRequiredService<MailTemplate.Store>(), default)
        )
    );
app.UseRequestLog();
if (settings.BehindProxy)
    app.UseForwardedHeaders();
if (!app.Environment.IsDevelopment())
    app.UseHsts().UseHttpsRedirection();
app.UseSecurityHeaders(app.Services.GetRequiredService<PhotoStorage>().Origin);
app.UseErrorResponses(ErrorPages.Write);
app.UseVisitCounting();

// The landing page, the same for everyone (signed in or not), from this dyno's copy of it.
app.UseLandingCopies(Language.Of);
app.UseStaticFiles();
app.UseRequestTimeouts();
app.UseAuthentication();
app.UseAntiforgery();
app.MapCarter();

// One-off commands keep stdout for their data (`export > file`): JasperFx's own console output
// (banner, progress) goes to stderr with the logs.
if (role == AppRole.Command)
    Spectre.Console.AnsiConsole.Console = Spectre.Console.AnsiConsole.Create(
        new Spectre.Console.AnsiConsoleSettings
        {
            Out = new Spectre.Console.AnsiConsoleOutput(Console.Error),
        }
    );

// Runs the web server, or a JasperFx command such as `db-apply`, `db-assert` or `outbox-drain`.
return await app.RunJasperFxCommands(args);

// What every role shares: settings, logs, backing services, the document store, mail.
Settings AddCampaignServices(IHostApplicationBuilder host)
{
    var settings = Settings.Load(host.Configuration, host.Environment);
    host.Services.AddSingleton(settings);
    // Heroku sends SIGKILL 30 s after SIGTERM: finish in-flight requests and queued mail before.
    host.Services.Configure<HostOptions>(options =>
        options.ShutdownTimeout = TimeSpan.FromSeconds(25)
    );
    host.Logging.AddCampaignConsole(role);
    host.Services.AddBackingServices(settings);
    // The operators' dashboard's counts, flushed to PostgreSQL every few seconds (web and clock).
    host.Services.AddSingleton<HourlyTally>();
    host.Services.AddHostedService<HourlyTally.Flusher>();
    host.Services.AddSingleton<Metrics>();
    host.Services.AddSharedDataProtection();
    host.Services.AddMarten(options =>
        {
            options.DatabaseSchemaName = settings.DatabaseSchema;
            options.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.CamelCase);
            // Outside Development the schema changes only in the release phase (`db-apply`).
            options.AutoCreateSchemaObjects = host.Environment.IsDevelopment()
                ? AutoCreate.CreateOrUpdate
                : AutoCreate.None;
            Entrant.Configure(options);
            SignInToken.Configure(options);
            OutboxMessage.Configure(options);
            MailTemplate.Configure(options);
            UnsubscribeKey.Configure(options);
            PhotoUpload.Configure(options);
            PhotoErasure.Configure(options);
            NightlyRun.Configure(options);
            Withdrawal.Configure(options);
            Unsubscription.Configure(options);
            AddressLock.Configure(options);
            HourlyTally.Configure(options);
        })
        .UseNpgsqlDataSource()
        .UseLightweightSessions();
    host.Services.ConfigureMarten(
        (services, options) =>
            options.Logger(ActivatorUtilities.CreateInstance<DatabaseLog>(services))
    );
    // Coravel's in-process queue, consumed one round at a time (Platform/QueueConsumer.cs).
    host.Services.AddInProcessQueue();
    // Mail knows no feature: the features say whether their kind of mail may still go when its turn
    // comes, and which templates their code renders.
    host.Services.AddMail(
        settings,
        mail =>
            mail.Checking(MailKind.Transactional, SignInMail.StillWanted)
                .Checking(MailKind.Campaign, NightlyReminder.StillWanted)
                .Rendering(SignInMail.Templates)
    );
    host.Services.AddSingleton<PhotoStorage>();
    // The web role signs people in with it; the clock's retention purge ends their sessions.
    host.Services.AddSingleton<RedisSessionStore>();
    // The dashboard and the analytics export read a follower when ANALYTICS_DATABASE_URL names one.
    host.Services.AddSingleton(services => new AnalyticsDatabase(
        settings.AnalyticsConnectionString is { } follower
            ? NpgsqlDataSource.Create(follower)
            : services.GetRequiredService<NpgsqlDataSource>()
    ));
    host.Services.AddSingleton<Dashboard>();
    host.Services.AddTransient<SweepPhotoUploads>();
    host.Services.AddTransient<PurgeExpiredData>();
    host.Services.AddSingleton<RunNightlyMail>();
    host.Services.AddSingleton<UnsubscribeKey.Store>();
    host.Services.AddSingleton<MailTemplate.Store>();
    host.Services.AddTransient<NightlyMailJob>();
    host.Services.AddTransient<RollUpVisitors>();
    return settings;
}

public partial class Program
{
    // Every role's container is checked when it is built, in every environment (not only in
    // Development, the default): a service that one role cannot build fails at boot, not an hour
    // later when a job first needs it.
    static readonly ServiceProviderOptions ValidatedContainer = new()
    {
        ValidateOnBuild = true,
        ValidateScopes = true,
    };
}
