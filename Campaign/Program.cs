using Campaign;
using Campaign.Clock;
using Campaign.Platform;
using Carter;
using JasperFx;
using Marten;

// One executable, three roles (Procfile): web, clock, one-off admin commands.
var role = AppRoles.FromArgs(args);

if (role == AppRole.Clock)
{
    // The clock serves no HTTP: a plain host, not a web application. It reads its environment name
    // from ASPNETCORE_ENVIRONMENT like the web process, so one config var sets both.
    var clockConfiguration = new ConfigurationManager();
    clockConfiguration.AddEnvironmentVariables("ASPNETCORE_");
    var clock = Host.CreateApplicationBuilder(
        new HostApplicationBuilderSettings { Args = args[1..], Configuration = clockConfiguration }
    );
    AddCampaignServices(clock);
    clock.Services.AddHostedService<ClockProcess>();
    await clock.Build().RunAsync();
    return 0;
}

var builder = WebApplication.CreateBuilder(args);
AddCampaignServices(builder);
builder.Services.AddCarter(configurator: c => c.WithModule<Routes>());

var app = builder.Build();
app.UseRequestLog();
app.MapCarter();

// Runs the web server, or a JasperFx command such as `db-apply`, `db-assert` or `help`.
return await app.RunJasperFxCommands(args);

void AddCampaignServices(IHostApplicationBuilder host)
{
    var settings = Settings.Load(host.Configuration, host.Environment);
    host.Logging.AddCampaignConsole(role);
    host.Services.AddBackingServices(settings);
    host.Services.AddMarten(options =>
        {
            options.DatabaseSchemaName = settings.DatabaseSchema;
            // Outside Development the schema changes only in the release phase (`db-apply`).
            options.AutoCreateSchemaObjects = host.Environment.IsDevelopment()
                ? AutoCreate.CreateOrUpdate
                : AutoCreate.None;
        })
        .UseNpgsqlDataSource()
        .UseLightweightSessions();
}

public partial class Program;
