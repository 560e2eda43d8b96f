using System.Text;
using Amazon.S3;
using Campaign.Features.Photos;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;

namespace Campaign.Tests;

/// <summary>
/// Where a person still shows up in the backing services of one app host: any row of its
/// PostgreSQL schema, any Redis key or value, any object under their prefix in the bucket.
/// </summary>
public static class Traces
{
    /// <summary>
    /// The tables of a PostgreSQL schema with a row whose text holds one of the needles (in any
    /// case), but rows that also hold <paramref name="except"/>: "PostgreSQL table" each.
    /// </summary>
    public static async Task<List<string>> InSchema(
        string schema,
        IEnumerable<string> needles,
        string? except = null
    )
    {
        var found = new List<string>();
        await using var db = NpgsqlDataSource.Create(
            Campaign.Platform.DatabaseUrl.Parse(TestServices.DatabaseUrl).ConnectionString
        );
        var tables = new List<string>();
        await using (
            var list = db.CreateCommand(
                "select table_name from information_schema.tables where table_schema = $1 and table_type = 'BASE TABLE'"
            )
        )
        {
            list.Parameters.AddWithValue(schema);
            await using var reader = await list.ExecuteReaderAsync();
            while (await reader.ReadAsync())
                tables.Add(reader.GetString(0));
        }
        foreach (var table in tables)
        {
            await using var count = db.CreateCommand(
                $"select count(*) from {schema}.{table} t where lower(t::text) like any($1) and ($2::text is null or lower(t::text) not like $2)"
            );
            count.Parameters.AddWithValue(
                needles.Select(n => $"%{n.ToLowerInvariant()}%").ToArray()
            );
            count.Parameters.Add(
                new NpgsqlParameter
                {
                    Value = except is null ? DBNull.Value : $"%{except.ToLowerInvariant()}%",
                    NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text,
                }
            );
            if ((long)(await count.ExecuteScalarAsync())! > 0)
                found.Add($"PostgreSQL {table}");
        }
        return found;
    }

    public static async Task<List<string>> Of(CampaignApp app, Guid id, string email)
    {
        string[] needles = [id.ToString(), id.ToString("N"), email.ToLowerInvariant()];
        var found = await InSchema(app.Schema, needles);

        var redis = app.Services.GetRequiredService<IConnectionMultiplexer>();
        var database = redis.GetDatabase();
        foreach (var server in redis.GetServers())
        await foreach (var key in server.KeysAsync(database.Database))
        {
            var values = await database.KeyTypeAsync(key) switch
            {
                RedisType.String => [(byte[])(await database.StringGetAsync(key))!],
                RedisType.Set => (await database.SetMembersAsync(key)).Select(v => (byte[])v!),
                _ => Array.Empty<byte[]>(),
            };
            var text = (string)key! + string.Concat(values.Select(Encoding.UTF8.GetString));
            if (needles.Any(n => text.Contains(n, StringComparison.OrdinalIgnoreCase)))
                found.Add($"Redis {key}");
        }

        var s3 = app.Services.GetRequiredService<IAmazonS3>();
        var objects = await s3.ListObjectsV2Async(
            new() { BucketName = TestServices.S3["S3_BUCKET"], Prefix = PhotoRules.PrefixOf(id) }
        );
        found.AddRange((objects.S3Objects ?? []).Select(o => $"S3 {o.Key}"));
        return found;
    }
}
