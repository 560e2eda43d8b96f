using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace Campaign.Tests;

/// <summary>
/// The fault proxy's modes against the real Redis, spoken to in plain RESP over a socket: no client
/// library reconnects or retries here, so what a test sees is what the proxy did.
/// </summary>
public sealed class FaultProxyTests : IAsyncLifetime
{
    readonly FaultProxy proxy = new(TestServices.RedisUrl);

    [Fact]
    public async Task Passing_it_forwards_both_ways_and_counts_the_connection()
    {
        using var connection = await Connect();

        Assert.Equal("+PONG", await Ping(connection));
        Assert.Equal(1, proxy.Connections);
        Assert.Equal(1, proxy.Open);
    }

    [Fact]
    public async Task Many_connections_at_once_each_get_their_own_replies()
    {
        var replies = await Task.WhenAll(
            Enumerable
                .Range(0, 32)
                .Select(async n =>
                {
                    using var connection = await Connect();
                    var answers = new List<string>();
                    for (var i = 0; i < 20; i++)
                    {
                        var text = $"c{n}.{i}";
                        Assert.Equal($"${text.Length}", await Send(connection, $"ECHO {text}"));
                        answers.Add(await ReadLine(connection));
                    }
                    return answers;
                })
        );

        for (var n = 0; n < 32; n++)
            Assert.Equal(Enumerable.Range(0, 20).Select(i => $"c{n}.{i}"), replies[n]);
        Assert.Equal(32, proxy.Connections);
    }

    [Fact]
    public async Task Refusing_it_resets_new_connections_keeps_open_ones_and_passing_takes_them_again()
    {
        using var open = await Connect();
        Assert.Equal("+PONG", await Ping(open));

        proxy.Refuse();
        await AssertBroken(async () =>
        {
            using var refused = await Connect();
            return await Ping(refused);
        });
        Assert.Equal("+PONG", await Ping(open));

        proxy.Pass();
        using var again = await Connect();
        Assert.Equal("+PONG", await Ping(again));
        Assert.Equal(3, proxy.Connections);
    }

    [Fact]
    public async Task Cutting_it_drops_open_connections_and_new_ones_pass()
    {
        using var open = await Connect();
        Assert.Equal("+PONG", await Ping(open));

        proxy.Cut();

        await AssertBroken(() => Ping(open));
        await Eventually.Until(() => Task.FromResult(proxy.Open == 0));
        using var next = await Connect();
        Assert.Equal("+PONG", await Ping(next));
    }

    [Fact]
    public async Task Hanging_it_answers_nothing_on_open_or_new_connections_until_it_passes_again()
    {
        using var open = await Connect();
        Assert.Equal("+PONG", await Ping(open));

        proxy.Hang();
        var held = Ping(open);
        using var late = await Connect(); // accepted, as a paused server's kernel still accepts
        var heldToo = Ping(late);

        await Assert.ThrowsAsync<TimeoutException>(() => held.WaitAsync(TimeSpan.FromSeconds(1)));
        Assert.False(heldToo.IsCompleted);
        await Eventually.Until(() => Task.FromResult(proxy.Connections == 2));

        proxy.Pass();
        Assert.Equal("+PONG", await held);
        Assert.Equal("+PONG", await heldToo);
    }

    [Fact]
    public async Task Slowing_it_delays_the_request_and_the_reply()
    {
        using var connection = await Connect();
        Assert.Equal("+PONG", await Ping(connection));
        var delay = TimeSpan.FromMilliseconds(250);

        proxy.Slow(delay);
        var watch = Stopwatch.StartNew();
        Assert.Equal("+PONG", await Ping(connection));

        // Each way once, less a little for the granularity of timers.
        Assert.True(
            watch.Elapsed >= 2 * delay - TimeSpan.FromMilliseconds(20),
            $"took {watch.ElapsedMilliseconds} ms"
        );
    }

    async Task<NetworkStream> Connect()
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync("127.0.0.1", proxy.Port);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new NetworkStream(socket, ownsSocket: true);
    }

    static Task<string> Ping(NetworkStream connection) => Send(connection, "PING");

    /// <summary>Sends an inline command and reads the first line of its reply.</summary>
    static async Task<string> Send(NetworkStream connection, string command)
    {
        await connection.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"));
        return await ReadLine(connection);
    }

    /// <summary>One line of a reply, without its CRLF ("" if the stream ended).</summary>
    static async Task<string> ReadLine(NetworkStream connection)
    {
        var reply = new StringBuilder();
        var one = new byte[1];
        while (await connection.ReadAsync(one) == 1)
        {
            reply.Append((char)one[0]);
            if (reply.Length >= 2 && reply[^2] == '\r' && reply[^1] == '\n')
                return reply.ToString(0, reply.Length - 2);
        }
        return "";
    }

    /// <summary>
    /// The exchange fails at once: the connection is reset (an exception, which may come as soon
    /// as the connect) or closed (no reply). A proxy that held it instead would run into the
    /// time-out.
    /// </summary>
    static async Task AssertBroken(Func<Task<string>> exchange)
    {
        try
        {
            var reply = await exchange().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("", reply);
        }
        catch (Exception e) when (e is IOException or SocketException) { }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await proxy.DisposeAsync();
}
