using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Campaign.Tests;

/// <summary>
/// A TCP proxy in the test process, in front of a backing service, that a test switches at any
/// moment to refuse, cut, hang or slow the link: an outage of PostgreSQL or Redis as the app sees
/// it, without stopping the service, a second server or root (Heroku CI has none of them). With
/// <see cref="WithTls"/> it is also the TLS end in front of a plain service, as Heroku Redis's
/// <c>rediss://</c> is (Heroku CI's in-dyno Redis speaks no TLS).
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
    readonly X509Certificate2? certificate;
    readonly TcpListener listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource stopping = new();
    readonly HashSet<Link> links = [];
    readonly Task accepting;
    Setting setting = new(Mode.Pass, TimeSpan.Zero);
    int connections;

    /// <summary>Listens on a free loopback port and forwards to the host and port of the URL.</summary>
    public FaultProxy(string targetUrl)
        : this(targetUrl, null) { }

    FaultProxy(string targetUrl, X509Certificate2? certificate)
    {
        target = new Uri(targetUrl);
        this.certificate = certificate;
        listener.Start();
        accepting = Accept();
    }

    /// <summary>
    /// A proxy that clients reach over TLS, with a self-signed certificate made for it (as Heroku
    /// Redis presents one), and that speaks plain TCP to the target. Its <see cref="Url"/> has the
    /// scheme <paramref name="tlsScheme"/> (<c>rediss</c>).
    /// </summary>
    public static FaultProxy WithTls(string targetUrl, string tlsScheme) =>
        new(
            new UriBuilder(targetUrl) { Scheme = tlsScheme }
                .Uri
                .AbsoluteUri,
            SelfSigned()
        );

    static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        using var made = request.CreateSelfSigned(
            DateTimeOffset.UtcNow.AddDays(-1),
            DateTimeOffset.UtcNow.AddDays(1)
        );
        // A certificate with its key, as SslStream needs it on Linux (an ephemeral key is refused).
        return X509CertificateLoader.LoadPkcs12(made.Export(X509ContentType.Pkcs12), null);
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
            Stream client = new NetworkStream(link.Client);
            if (certificate is not null)
            {
                var tls = new SslStream(client);
                await tls.AuthenticateAsServerAsync(
                    new SslServerAuthenticationOptions { ServerCertificate = certificate },
                    link.Token
                );
                client = tls;
            }
            await link.Upstream.ConnectAsync(target.Host, target.Port, link.Token);
            var upstream = new NetworkStream(link.Upstream);
            await Task.WhenAll(
                Pump(client, upstream, link.Upstream, link),
                Pump(upstream, client, link.Client, link)
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

    /// <summary>One direction: on end of stream it half-closes the other side (the socket under
    /// <paramref name="to"/>, after TLS's own close); on failure it aborts the whole link, which
    /// ends the other direction too.</summary>
    async Task Pump(Stream from, Stream to, Socket toSocket, Link link)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (await from.ReadAsync(buffer, link.Token) is var read and > 0)
            {
                await WaitForTheMode(link.Token);
                await to.WriteAsync(buffer.AsMemory(0, read), link.Token);
            }
            if (to is SslStream tls)
                await tls.ShutdownAsync();
            toSocket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (IsTheLinkFailing(e))
        {
            link.Abort();
        }
    }

    /// <summary>A peer reset or closed its side, failed the TLS handshake, or the link was cut (its
    /// sockets disposed).</summary>
    static bool IsTheLinkFailing(Exception e) =>
        e
            is SocketException
                or IOException
                or OperationCanceledException
                or ObjectDisposedException
                or System.Security.Authentication.AuthenticationException;

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
        certificate?.Dispose();
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
