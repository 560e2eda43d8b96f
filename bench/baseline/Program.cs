// The machine's limit for accepting an entry: Kestrel and one raw INSERT per request (a uuid and
// a jsonb document, as a Marten document table holds) on a pooled connection, nothing else.
//   DATABASE=<Npgsql connection string> ./Baseline --urls http://127.0.0.1:PORT
using System.Text.Json;
using Npgsql;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
await using var dataSource = NpgsqlDataSource.Create(
    Environment.GetEnvironmentVariable("DATABASE")
        ?? throw new InvalidOperationException("DATABASE is not set")
);
await using (
    var create = dataSource.CreateCommand(
        """
        create table if not exists baseline_entry (
            id uuid primary key,
            data jsonb not null,
            created_at timestamptz not null default now()
        );
        create unique index if not exists baseline_entry_email on baseline_entry (lower(data ->> 'email'));
        """
    )
)
    await create.ExecuteNonQueryAsync();

var app = builder.Build();
app.MapGet("/", () => "ok");
app.MapPost(
    "/entries",
    async (HttpRequest request) =>
    {
        var entry = await JsonSerializer.DeserializeAsync<JsonElement>(request.Body);
        await using var insert = dataSource.CreateCommand(
            "insert into baseline_entry (id, data) values ($1, $2::jsonb)"
        );
        insert.Parameters.AddWithValue(Guid.NewGuid());
        insert.Parameters.AddWithValue(entry.GetRawText());
        await insert.ExecuteNonQueryAsync();
        return Results.Accepted();
    }
);
app.Run();
