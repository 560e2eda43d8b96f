// The machine's limit for the landing page: Kestrel answering every request with the landing page's
// bytes and headers as the app last sent them (saved by bench/landing.sh with curl), nothing else.
//   BODY=<file> HEADERS=<file, as `curl -D` writes it> ./Static --urls http://127.0.0.1:PORT
using Microsoft.Extensions.Primitives;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var body = File.ReadAllBytes(FileNamed("BODY"));
var saved = File.ReadLines(FileNamed("HEADERS"))
    .Skip(1) // the status line
    .Where(line => line.Contains(':'))
    .Select(line =>
        (Name: line[..line.IndexOf(':')].Trim(), Value: line[(line.IndexOf(':') + 1)..].Trim())
    )
    .ToList();

// Kestrel writes these itself, for each response: Date and Server (when the app lets it), the length.
string[] written =
[
    "Date",
    "Server",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
];
var headers = saved
    .Where(h => !written.Contains(h.Name, StringComparer.OrdinalIgnoreCase))
    .GroupBy(h => h.Name, StringComparer.OrdinalIgnoreCase)
    .Select(g => KeyValuePair.Create(g.Key, new StringValues(g.Select(h => h.Value).ToArray())))
    .ToArray();
builder.WebHost.ConfigureKestrel(kestrel =>
    kestrel.AddServerHeader = saved.Any(h =>
        h.Name.Equals("Server", StringComparison.OrdinalIgnoreCase)
    )
);

var app = builder.Build();
app.Run(context =>
{
    var response = context.Response;
    foreach (var (name, value) in headers)
        response.Headers[name] = value;
    response.ContentLength = body.Length;
    return response.Body.WriteAsync(body).AsTask();
});
app.Run();

static string FileNamed(string variable) =>
    Environment.GetEnvironmentVariable(variable)
    ?? throw new InvalidOperationException($"{variable} is not set");
