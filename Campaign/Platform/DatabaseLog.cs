using Marten;
using Marten.Services;
using Npgsql;

namespace Campaign.Platform;

/// <summary>
/// What Marten logs: a failed command's SQL and its error, never the values it carried. Marten's
/// own logger writes every parameter of a failed command, and those are entrants' documents
/// (address, name) and mail whose substitutions hold live sign-in links.
/// </summary>
public sealed class DatabaseLog(ILogger<IDocumentStore> logger)
    : IMartenLogger,
        IMartenSessionLogger
{
    public IMartenSessionLogger StartSession(IQuerySession session) => this;

    public void SchemaChange(string sql) => logger.LogInformation("schema changed sql={Sql}", sql);

    public void LogFailure(NpgsqlCommand command, Exception ex) =>
        logger.LogError(ex, "database command failed sql={Sql}", command.CommandText);

    public void LogFailure(NpgsqlBatch batch, Exception ex) =>
        logger.LogError(
            ex,
            "database command failed sql={Sql}",
            string.Join("; ", batch.BatchCommands.Select((NpgsqlBatchCommand c) => c.CommandText))
        );

    public void LogFailure(Exception ex, string message) =>
        logger.LogError(ex, "database failure: {Message}", message);

    public void LogSuccess(NpgsqlCommand command) { }

    public void LogSuccess(NpgsqlBatch batch) { }

    public void OnBeforeExecute(NpgsqlCommand command) { }

    public void OnBeforeExecute(NpgsqlBatch batch) { }

    public void RecordSavedChanges(IDocumentSession session, IChangeSet commit) { }
}
