using Npgsql;
using StackExchange.Redis;

namespace Campaign.Platform;

/// <summary>
/// The backing services as DI singletons: one PostgreSQL connection pool (shared by Marten and the
/// health checks) and one Redis multiplexer per process. https://12factor.net/backing-services
/// </summary>
public static class BackingServices
{
    public static IServiceCollection AddBackingServices(
        this IServiceCollection services,
        Settings settings
    )
    {
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(_ => NpgsqlDataSource.Create(settings.DatabaseConnectionString));
        // Created on first use; with AbortOnConnectFail off it reconnects by itself.
        services.AddSingleton<IConnectionMultiplexer>(_ =>
            ConnectionMultiplexer.Connect(settings.Redis)
        );
        return services;
    }
}
