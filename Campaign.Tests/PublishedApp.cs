using System.Diagnostics;
using System.Text;

namespace Campaign.Tests;

/// <summary>
/// Runs the published executable as a dyno would: its own process, configured only by environment
/// variables, stopped with SIGTERM.
/// </summary>
public sealed class PublishedApp : IDisposable
{
    static readonly string[] MovedClock =
    [
        "LD_PRELOAD",
        "FAKETIME",
        "FAKETIME_DONT_FAKE_MONOTONIC",
        "FAKETIME_FORCE_MONOTONIC_FIX",
    ];

    readonly Process process;
    readonly StringBuilder output = new();

    public PublishedApp(Dictionary<string, string?> environment, params string[] args)
    {
        var start = new ProcessStartInfo(TestServices.PublishedApp)
        {
            WorkingDirectory = Path.GetDirectoryName(TestServices.PublishedApp)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        // A dyno has only what its config vars say: start from the variables a process needs.
        start.Environment.Clear();
        start.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH");
        start.Environment["HOME"] = Environment.GetEnvironmentVariable("HOME");
        // The machine's clock, as bin/test's moved-clock pass sets it for every process (a dyno's
        // clock is the machine's too, not a config var).
        foreach (var name in MovedClock)
            if (Environment.GetEnvironmentVariable(name) is { } value)
                start.Environment[name] = value;
        foreach (var (name, value) in environment)
            start.Environment[name] = value;

        process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append("out", e.Data);
        process.ErrorDataReceived += (_, e) => Append("err", e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Writes to the process's stdin and closes it (`... &lt; file`).</summary>
    public async Task Feed(string input)
    {
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
    }

    /// <summary>What the process wrote on stdout, without the stream prefixes.</summary>
    public string StandardOutput =>
        string.Concat(
            Output
                .Split('\n')
                .Where(l => l.StartsWith("out: "))
                .Select(l => l["out: ".Length..] + "\n")
        );

    /// <summary>Every line so far, each prefixed with the stream it came from ("out: ", "err: ").</summary>
    public string Output
    {
        get
        {
            lock (output)
                return output.ToString();
        }
    }

    void Append(string stream, string? line)
    {
        if (line is null)
            return;
        lock (output)
            output.Append(stream).Append(": ").AppendLine(line);
    }

    public async Task<int> WaitForExit(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cancel.Token);
        process.WaitForExit(); // drains the redirected output
        return process.ExitCode;
    }

    /// <summary>What Heroku sends 30 s after SIGTERM, or when a dyno dies: no chance to finish anything.</summary>
    public void Kill()
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    /// <summary>What Heroku sends on a restart or a deploy; SIGKILL follows 30 s later.</summary>
    public void Terminate() =>
        Process.Start("kill", ["-TERM", process.Id.ToString()])!.WaitForExit();

    public async Task WaitForOutput(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text))
        {
            if (DateTime.UtcNow > deadline || process.HasExited)
                throw new Xunit.Sdk.XunitException($"'{text}' never appeared. Output:\n{Output}");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        if (!process.HasExited)
            process.Kill(entireProcessTree: true);
        process.Dispose();
    }

    /// <summary>What Heroku runs before a release's processes start: the Procfile's `release`.</summary>
    public static async Task ReleasePhase(Dictionary<string, string?> environment)
    {
        using var apply = new PublishedApp(environment, "db-apply");
        Assert.True(await apply.WaitForExit(TimeSpan.FromSeconds(60)) == 0, apply.Output);
    }

    /// <summary>A loopback port that is free now.</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
