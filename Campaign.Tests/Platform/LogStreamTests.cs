using System.Text;
using Campaign.Platform;
using Microsoft.Extensions.Logging;

namespace Campaign.Tests.Platform;

/// <summary>
/// Log lines leave in batches, one write for all that wait: none is lost, torn or reordered, and
/// those still waiting when the process stops are written then.
/// </summary>
public sealed class LogStreamTests
{
    [Fact]
    public async Task Lines_from_many_threads_are_each_written_once_whole_and_in_order_by_the_time_it_is_disposed()
    {
        var output = new MemoryStream();
        var stream = new LogStream(output);
        var loggers = Enumerable
            .Range(0, 8)
            .Select(i => stream.CreateLogger($"Test.T{i}"))
            .ToList();

        await Task.WhenAll(
            loggers.Select(
                (logger, t) =>
                    Task.Run(() =>
                    {
                        for (var n = 0; n < 5_000; n++)
                            logger.LogInformation(
                                "thread={Thread} line={Line} mail=a.person@example.jp",
                                t,
                                n
                            );
                    })
            )
        );
        stream.Dispose();

        var lines = Encoding
            .UTF8.GetString(output.ToArray())
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(8 * 5_000, lines.Length);
        for (var t = 0; t < 8; t++)
        {
            var ofThread = lines.Where(l => l.StartsWith($"info Test.T{t}: ")).ToList();
            Assert.Equal(
                Enumerable
                    .Range(0, 5_000)
                    .Select(n => $"info Test.T{t}: thread={t} line={n} mail=***@example.jp"),
                ofThread
            );
        }
    }

    [Fact]
    public void A_line_logged_after_the_last_batch_is_written_at_once_and_a_failed_format_leaves_nothing_behind()
    {
        var output = new MemoryStream();
        var stream = new LogStream(output);
        var logger = stream.CreateLogger("Test.Late");

        Assert.Throws<InvalidOperationException>(() =>
            logger.Log<string>(
                LogLevel.Warning,
                default,
                "state",
                null,
                (_, _) => throw new InvalidOperationException("formatting failed")
            )
        );
        logger.LogInformation("before the end");
        stream.Dispose();
        logger.LogWarning("after the end");

        Assert.Equal(
            "info Test.Late: before the end\nwarn Test.Late: after the end\n",
            Encoding.UTF8.GetString(output.ToArray()).ReplaceLineEndings("\n")
        );
    }
}
