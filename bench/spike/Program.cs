// The crowd of bench/spike.sh: POST /api/v1/entries, each request a new address, on plain HTTP/1.1
// sockets (each request written whole, the answer's status line and headers read, its body skipped),
// so that the client takes about what wrk would from the cores it shares with what it measures.
//
// Each connection is a client of its own: its socket is bound to an address of its own in
// 127.0.0.0/8 before it connects, so nginx in front of the web processes sees a distinct remote
// address per connection and forwards it in X-Forwarded-For, as Heroku's router does with each
// client's address (and the app's per-client limit counts each connection apart).
//
//   Spike URL RUN STEADY_SECONDS STEADY_CONNECTIONS [RAMP_SECONDS PEAK_CONNECTIONS AFTER_SECONDS]
//
// First STEADY_CONNECTIONS connections for STEADY_SECONDS, opened at once (as wrk opens them), and
// closed once their last answers are in; then connections from 0 to PEAK_CONNECTIONS, one every
// RAMP_SECONDS / PEAK_CONNECTIONS, kept AFTER_SECONDS after the ramp. No request starts after that;
// the answers still on their way are waited for (at most 30 s, Heroku's router's timeout).
// Prints `key value` words on lines: one per phase, one per outcome, the accepted entries per
// second, the client's own CPU time. With ACCEPTED set (environment), writes the address of every
// accepted entry (202) to that file, one a line.
using System.Buffers.Text;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

if (args.Length is not (4 or 7))
{
    Console.Error.WriteLine(
        "usage: Spike URL RUN STEADY_SECONDS STEADY_CONNECTIONS [RAMP_SECONDS PEAK_CONNECTIONS AFTER_SECONDS]"
    );
    return 2;
}
var url = new Uri(args[0]);
var run = args[1];
var steadyUs = Micros(args[2]);
var steadyConnections = int.Parse(args[3], CultureInfo.InvariantCulture);
var rampUs = args.Length > 4 ? Micros(args[4]) : 0;
var peak = args.Length > 4 ? int.Parse(args[5], CultureInfo.InvariantCulture) : 0;
var afterUs = args.Length > 4 ? Micros(args[6]) : 0;
var target = new IPEndPoint(IPAddress.Parse(url.Host), url.Port);
var clock = Stopwatch.StartNew();

// Group a: 127.20.x.y, group b: 127.21.x.y; never 127.0.0.1, the address of everything else.
var steady = Enumerable
    .Range(0, steadyConnections)
    .Select(i => new Client(clock, target, url, $"{run}-a{i}", Address(20, i), 0, steadyUs))
    .ToArray();
await Task.WhenAll(steady.Select(c => c.RunAsync()));
var rampStart = clock.Micros();
var rampEnd = rampStart + rampUs;
var crowd = Enumerable
    .Range(0, peak)
    .Select(i => new Client(
        clock,
        target,
        url,
        $"{run}-b{i}",
        Address(21, i),
        rampStart + rampUs * i / peak,
        rampEnd + afterUs
    ))
    .ToArray();
await Task.WhenAll(crowd.Select(c => c.RunAsync()));

var phases = new List<(string Name, double Seconds, int Connections, List<Sample> Samples)>
{
    ("steady", steadyUs / 1e6, steadyConnections, []),
};
if (peak > 0)
{
    phases.Add(("ramp", rampUs / 1e6, peak, []));
    phases.Add(("after", afterUs / 1e6, peak, []));
}

// Answers that came after their phase's end (the last ones in flight): counted, not in any rate.
var tail = new List<Sample>();
foreach (var sample in steady.SelectMany(c => c.Samples))
    (sample.End < steadyUs ? phases[0].Samples : tail).Add(sample);
foreach (var sample in crowd.SelectMany(c => c.Samples))
    (
        sample.End < rampEnd ? phases[1].Samples
        : sample.End < rampEnd + afterUs ? phases[2].Samples
        : tail
    ).Add(sample);

var output = new StringBuilder();
foreach (var (name, seconds, connections, samples) in phases)
{
    var answers = samples.Where(s => s.Status > 0).Select(s => s.LatencyUs).Order().ToArray();
    var accepted = samples.Count(s => s.Status == 202);
    output.AppendLine(
        Invariant(
            $"phase {name} seconds {seconds:0.0} connections {connections} answers {answers.Length} accepted {accepted} rate {accepted / seconds:0} p50 {Percentile(answers, 0.50):0.0} p99 {Percentile(answers, 0.99):0.0}"
        )
    );
}
output.AppendLine(
    Invariant(
        $"phase tail answers {tail.Count(s => s.Status > 0)} accepted {tail.Count(s => s.Status == 202)}"
    )
);
var all = steady.Concat(crowd).SelectMany(c => c.Samples).ToList();
foreach (var outcome in all.GroupBy(s => s.Status).OrderBy(g => g.Key))
    output.AppendLine(
        Invariant(
            $"outcome {Outcome.Name(outcome.Key)} count {outcome.Count()} retry-after {outcome.Count(s => s.RetryAfter)}"
        )
    );

// Accepted entries per second, from the start of each group.
output.AppendLine("per-second steady " + PerSecond(steady, 0, steadyUs));
if (peak > 0)
    output.AppendLine("per-second crowd " + PerSecond(crowd, rampStart, rampUs + afterUs));
output.AppendLine(
    Invariant(
        $"client cpu-ms {Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds:0} requests {all.Count(s => s.Status > 0)}"
    )
);
Console.Write(output);

if (Environment.GetEnvironmentVariable("ACCEPTED") is { Length: > 0 } file)
    await File.WriteAllLinesAsync(
        file,
        steady.Concat(crowd).SelectMany(c => c.Accepted.Select(n => c.AddressOf(n)))
    );
return 0;

static long Micros(string seconds) =>
    (long)(double.Parse(seconds, CultureInfo.InvariantCulture) * 1e6);

static IPAddress Address(int group, int i) =>
    new([127, (byte)group, (byte)(i / 250), (byte)(i % 250 + 1)]);

static double Percentile(int[] sorted, double p) =>
    sorted.Length == 0
        ? 0
        : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)] / 1000.0;

static string PerSecond(Client[] clients, long from, long span)
{
    var counts = new int[(int)Math.Ceiling(span / 1e6)];
    foreach (var sample in clients.SelectMany(c => c.Samples))
        if (sample.Status == 202 && sample.End >= from && sample.End < from + span)
            counts[(sample.End - from) / 1_000_000]++;
    return string.Join(' ', counts);
}

static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

/// <summary>One answer (or failure): when it ended and how long it took, in µs since the start.</summary>
readonly record struct Sample(long End, int LatencyUs, int Status, bool RetryAfter);

static class Outcome
{
    public const int ConnectFailed = -1;
    public const int Closed = -2;
    public const int TimedOut = -3;

    public static string Name(int status) =>
        status switch
        {
            ConnectFailed => "connect-failed",
            Closed => "connection-closed",
            TimedOut => "timed-out",
            _ => status.ToString(CultureInfo.InvariantCulture),
        };
}

static class StopwatchMicros
{
    public static long Micros(this Stopwatch clock) =>
        (long)(clock.ElapsedTicks * (1e6 / Stopwatch.Frequency));
}

/// <summary>One connection, one client address: requests one after another from <c>startAt</c>
/// until <c>stopAt</c>, reconnecting when the server closes.</summary>
sealed class Client(
    Stopwatch clock,
    IPEndPoint target,
    Uri url,
    string name,
    IPAddress source,
    long startAt,
    long stopAt
)
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public List<Sample> Samples { get; } = new(1024);
    public List<int> Accepted { get; } = new(1024);
    readonly byte[] buffer = new byte[16 * 1024];
    int start,
        end; // the bytes received and not yet read: buffer[start..end)
    Socket? socket;
    CancellationTokenSource timeout = new();

    public string AddressOf(int n) => $"s{name}-{n}@example.test".ToLowerInvariant();

    public async Task RunAsync()
    {
        var wait = startAt - clock.Micros();
        if (wait > 0)
            await Task.Delay(TimeSpan.FromMicroseconds(wait));
        var n = 0;
        while (clock.Micros() < stopAt)
        {
            if (socket is null && !await ConnectAsync())
                continue;
            n++;
            var request = Request(n);
            var began = clock.Micros();
            if (!timeout.TryReset())
            {
                timeout.Dispose();
                timeout = new();
            }
            timeout.CancelAfter(Timeout);
            try
            {
                await socket!.SendAsync(request, SocketFlags.None, timeout.Token);
                var (status, retryAfter, keepAlive) = await ReadResponseAsync(timeout.Token);
                Record(began, status, retryAfter);
                if (status == 202)
                    Accepted.Add(n);
                if (!keepAlive)
                    Close();
            }
            catch (OperationCanceledException)
            {
                Record(began, Outcome.TimedOut, false);
                Close();
            }
            catch (Exception e) when (e is SocketException or IOException or InvalidDataException)
            {
                Record(began, Outcome.Closed, false);
                Close();
            }
        }
        Close();
    }

    void Record(long began, int status, bool retryAfter)
    {
        var now = clock.Micros();
        Samples.Add(new(now, (int)(now - began), status, retryAfter));
    }

    async ValueTask<bool> ConnectAsync()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        {
            NoDelay = true,
        };
        try
        {
            s.Bind(new IPEndPoint(source, 0));
            using var cancel = new CancellationTokenSource(Timeout);
            await s.ConnectAsync(target, cancel.Token);
            socket = s;
            start = end = 0;
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            s.Dispose();
            Record(clock.Micros(), Outcome.ConnectFailed, false);
            await Task.Delay(100);
            return false;
        }
    }

    void Close()
    {
        socket?.Dispose();
        socket = null;
    }

    byte[] Request(int n)
    {
        var body =
            $"{{\"email\":\"{AddressOf(n)}\",\"displayName\":\"bench\",\"consent\":true,\"locale\":\"ja\"}}";
        return Encoding.ASCII.GetBytes(
            $"POST {url.PathAndQuery} HTTP/1.1\r\nHost: {url.Authority}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}"
        );
    }

    async ValueTask<(int Status, bool RetryAfter, bool KeepAlive)> ReadResponseAsync(
        CancellationToken token
    )
    {
        int headEnd;
        while ((headEnd = IndexOf("\r\n\r\n"u8)) < 0)
            await FillAsync(token);
        var head = Head.Parse(buffer.AsSpan(start, headEnd));
        start += headEnd + 4;
        if (head.Chunked)
            await SkipChunksAsync(token);
        else if (head.ContentLength > 0)
            await SkipAsync(head.ContentLength, token);
        else if (head.ContentLength < 0 && head.Status is not (204 or 304))
            throw new InvalidDataException("an answer without a length"); // nginx always gives one
        return (head.Status, head.RetryAfter, head.KeepAlive);
    }

    int IndexOf(ReadOnlySpan<byte> bytes) => buffer.AsSpan(start, end - start).IndexOf(bytes);

    async ValueTask FillAsync(CancellationToken token)
    {
        if (start == end)
            start = end = 0;
        else if (end == buffer.Length)
        {
            if (start == 0)
                throw new InvalidDataException("an answer's head larger than the buffer");
            Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
            end -= start;
            start = 0;
        }
        var read = await socket!.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, token);
        if (read == 0)
            throw new IOException("closed by the server");
        end += read;
    }

    async ValueTask SkipAsync(long count, CancellationToken token)
    {
        while (count > 0)
        {
            if (start == end)
                await FillAsync(token);
            var taken = (int)Math.Min(count, end - start);
            start += taken;
            count -= taken;
        }
    }

    // Transfer-Encoding: chunked: size lines in hexadecimal, each chunk followed by CRLF, the last
    // of size 0 followed by trailer lines and an empty line.
    async ValueTask SkipChunksAsync(CancellationToken token)
    {
        while (true)
        {
            int lineEnd;
            while ((lineEnd = IndexOf("\r\n"u8)) < 0)
                await FillAsync(token);
            var size = Head.ChunkSize(buffer.AsSpan(start, lineEnd));
            start += lineEnd + 2;
            if (size == 0)
                break;
            await SkipAsync(size + 2, token);
        }
        while (true)
        {
            int lineEnd;
            while ((lineEnd = IndexOf("\r\n"u8)) < 0)
                await FillAsync(token);
            start += lineEnd + 2;
            if (lineEnd == 0)
                return;
        }
    }
}

/// <summary>What the client needs from an answer's status line and headers.</summary>
readonly record struct Head(
    int Status,
    long ContentLength,
    bool Chunked,
    bool RetryAfter,
    bool KeepAlive
)
{
    public static Head Parse(ReadOnlySpan<byte> head)
    {
        if (
            !head.StartsWith("HTTP/1."u8)
            || head.Length < 12
            || !Utf8Parser.TryParse(head[9..12], out int status, out _)
        )
            throw new InvalidDataException("not an HTTP/1.x status line");
        var keepAlive = head[7] == (byte)'1'; // HTTP/1.1 keeps the connection unless it says otherwise
        long length = -1;
        bool chunked = false,
            retryAfter = false;
        var rest = head[(head.IndexOf("\r\n"u8) is var first and >= 0 ? first + 2 : head.Length)..];
        while (!rest.IsEmpty)
        {
            var lineEnd = rest.IndexOf("\r\n"u8);
            var line = lineEnd < 0 ? rest : rest[..lineEnd];
            rest = lineEnd < 0 ? [] : rest[(lineEnd + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon < 0)
                continue;
            var field = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (Ascii.EqualsIgnoreCase(field, "Content-Length"u8))
                Utf8Parser.TryParse(value, out length, out _);
            else if (Ascii.EqualsIgnoreCase(field, "Transfer-Encoding"u8))
                chunked = Ascii.EqualsIgnoreCase(value, "chunked"u8);
            else if (Ascii.EqualsIgnoreCase(field, "Retry-After"u8))
                retryAfter = true;
            else if (Ascii.EqualsIgnoreCase(field, "Connection"u8))
                keepAlive = !Ascii.EqualsIgnoreCase(value, "close"u8);
        }
        return new(status, length, chunked, retryAfter, keepAlive);
    }

    public static long ChunkSize(ReadOnlySpan<byte> line)
    {
        var extension = line.IndexOf((byte)';');
        if (extension >= 0)
            line = line[..extension];
        return Utf8Parser.TryParse(line.Trim((byte)' '), out long size, out _, 'X')
            ? size
            : throw new InvalidDataException("a chunk size that is not hexadecimal");
    }
}
