using System.Net;
using System.Net.Sockets;

namespace Campaign.Tests;

/// <summary>
/// A TCP proxy in the test process, in front of a backing service, that a test switches at any
/// moment to refuse, cut, hang or slow the link: an outage of PostgreSQL or Redis as the app sees
/// it, without stopping the service, a second server or root (Heroku CI has none of them).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    enum Mode
    {
        Pass,
        Refuse,
        Hang,
        Slow,
    }

    /// <summary>One mode, replaced whole on a switch; <see cref="Left"/> completes when it is.</summary>
    sealed record Setting(Mode Mode, TimeSpan Delay)
    {
        public TaskCompletionSource Left { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    readonly Uri target;
    readonly TcpListener listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource stopping = new();
    readonly HashSet<Link> links = [];
    readonly Task accepting;
    Setting setting = new(Mode.Pass, TimeSpan.Zero);
    int connections;

    /// <summary>Listens on a free loopback port and forwards to the host and port of the URL.</summary>
    public FaultProxy(string targetUrl)
    {
        target = new Uri(targetUrl);
        listener.Start();
        accepting = Accept();
    }

    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    /// <summary>The target URL (user, password, path and all) with the proxy's host and port.</summary>
    public string Url =>
        new UriBuilder(target) { Host = "127.0.0.1", Port = Port }
            .Uri
            .AbsoluteUri;

    /// <summary>Every connection accepted so far, refused ones included.</summary>
    public int Connections => Volatile.Read(ref connections);

    /// <summary>The connections open now.</summary>
    public int Open
    {
        get
        {
            lock (links)
                return links.Count;
        }
    }

    /// <summary>Forwards everything at once (the default); what was held while hung goes on.</summary>
    public void Pass() => Switch(new(Mode.Pass, TimeSpan.Zero));

    /// <summary>
    /// Resets each new connection as soon as it is accepted, before a byte of the protocol: to a
    /// client, a server that is gone. (Closing the listener would refuse the SYN itself, but then
    /// another socket could take the port before it is listened on again.) Open connections go on:
    /// <see cref="Cut"/> them too for a server that has stopped.
    /// </summary>
    public void Refuse() => Switch(new(Mode.Refuse, TimeSpan.Zero));

    /// <summary>
    /// Forwards nothing in either direction, on open and new connections alike, which are accepted
    /// and kept: a paused server, which only a client's own time-outs get past.
    /// </summary>
    public void Hang() => Switch(new(Mode.Hang, TimeSpan.Zero));

    /// <summary>Holds each chunk of bytes, in either direction, for the delay before forwarding it.</summary>
    public void Slow(TimeSpan delay) => Switch(new(Mode.Slow, delay));

    /// <summary>Resets every open connection now; new ones are taken as the mode says.</summary>
    public void Cut()
    {
        Link[] open;
        lock (links)
            open = [.. links];
        foreach (var link in open)
            link.Abort();
    }

    void Switch(Setting next) => Interlocked.Exchange(ref setting, next).Left.TrySetResult();

    async Task Accept()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync(stopping.Token);
            }
            catch (Exception) when (stopping.IsCancellationRequested)
            {
                return;
            }
            Interlocked.Increment(ref connections);
            if (Volatile.Read(ref setting).Mode == Mode.Refuse)
            {
                Link.Reset(client);
                continue;
            }
            var link = new Link(client);
            lock (links)
                links.Add(link);
            link.Running = Forward(link);
        }
    }

    async Task Forward(Link link)
    {
        try
        {
            link.Client.NoDelay = true; // small requests and replies, sent as they come
            await link.Upstream.ConnectAsync(target.Host, target.Port, link.Token);
            await Task.WhenAll(
                Pump(link.Client, link.Upstream, link),
                Pump(link.Upstream, link.Client, link)
            );
            link.Close();
        }
        catch (Exception e) when (IsTheLinkFailing(e))
        {
            link.Abort(); // the target refused, or the link was cut
        }
        finally
        {
            lock (links)
                links.Remove(link);
        }
    }

    /// <summary>One direction: on end of stream it half-closes the other side; on failure it
    /// aborts the whole link, which ends the other direction too.</summary>
    async Task Pump(Socket from, Socket to, Link link)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (await from.ReceiveAsync(buffer, link.Token) is var read and > 0)
            {
                await WaitForTheMode(link.Token);
                var chunk = buffer.AsMemory(0, read);
                while (!chunk.IsEmpty)
                    chunk = chunk[await to.SendAsync(chunk, link.Token)..];
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (IsTheLinkFailing(e))
        {
            link.Abort();
        }
    }

    /// <summary>A peer reset or closed its side, or the link was cut (its sockets disposed).</summary>
    static bool IsTheLinkFailing(Exception e) =>
        e is SocketException or OperationCanceledException or ObjectDisposedException;

    async Task WaitForTheMode(CancellationToken token)
    {
        var now = Volatile.Read(ref setting);
        while (now.Mode == Mode.Hang)
        {
            await now.Left.Task.WaitAsync(token);
            now = Volatile.Read(ref setting);
        }
        if (now.Mode == Mode.Slow)
            await Task.Delay(now.Delay, token);
    }

    public async ValueTask DisposeAsync()
    {
        stopping.Cancel();
        listener.Stop();
        await accepting;
        Link[] open;
        lock (links)
            open = [.. links];
        foreach (var link in open)
            link.Abort();
        await Task.WhenAll(open.Select(l => l.Running));
        stopping.Dispose();
    }

    /// <summary>A client's connection and the proxy's own to the target.</summary>
    sealed class Link(Socket client)
    {
        readonly CancellationTokenSource cut = new();
        int closed;

        public Socket Client { get; } = client;
        public Socket Upstream { get; } =
            new(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        public CancellationToken Token => cut.Token;
        public Task Running { get; set; } = Task.CompletedTask;

        /// <summary>Both sides ended their streams: an orderly close that keeps what is still sent.</summary>
        public void Close()
        {
            if (Interlocked.Exchange(ref closed, 1) == 0)
            {
                Client.Dispose();
                Upstream.Dispose();
            }
        }

        /// <summary>Resets both sockets and stops both directions, once, from any thread.</summary>
        public void Abort()
        {
            if (Interlocked.Exchange(ref closed, 1) == 0)
            {
                cut.Cancel();
                Reset(Client);
                Reset(Upstream);
            }
        }

        /// <summary>Closes with RST instead of FIN: the peer's next read or write fails at once.</summary>
        public static void Reset(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (SocketException)
            {
                // Not connected (yet): there is nothing to reset.
            }
            socket.Dispose();
        }
    }
}
