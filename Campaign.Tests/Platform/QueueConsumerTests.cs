using Campaign.Platform;
using Coravel.Events.Interfaces;
using Coravel.Queuing.Broadcast;
using Coravel.Queuing.Interfaces;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Campaign.Tests.Platform;

/// <summary>
/// The in-process queue's consumer (<see cref="QueueConsumer"/>) in a bare host: what is queued is
/// done within about a second, and a host that stops does everything still queued, one round at a
/// time.
/// </summary>
public sealed class QueueConsumerTests
{
    static IHost Host(IDispatcher? events = null)
    {
        var host = new HostApplicationBuilder(
            new HostApplicationBuilderSettings { DisableDefaults = true }
        );
        host.Configuration["Coravel:Queue:ConsummationDelay"] = "1"; // as appsettings.json
        if (events is not null)
            host.Services.AddSingleton(events);
        host.Services.AddInProcessQueue();
        return host.Build();
    }

    [Fact]
    public async Task A_task_queued_while_the_process_runs_is_done_within_about_a_second()
    {
        using var host = Host();
        await host.StartAsync();
        await Task.Delay(100); // past the round that runs at the start
        var done = new TaskCompletionSource();
        host.Services.GetRequiredService<IQueue>().QueueTask(done.SetResult);
        await done.Task.WaitAsync(TimeSpan.FromSeconds(3));
        await host.StopAsync();
    }

    [Fact]
    public async Task A_host_stopped_during_a_periodic_round_begins_its_last_round_after_it_and_does_every_task()
    {
        var rounds = new Rounds();
        using var host = Host(rounds);
        var queue = host.Services.GetRequiredService<IQueue>();
        var done = 0;
        for (var i = 0; i < 100; i++)
            queue.QueueTask(() => Interlocked.Increment(ref done));

        await host.StartAsync();
        await rounds.FirstBegun.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var stopping = host.StopAsync();
        // Time for a last round to begin beside the first, as Coravel's own consumer (AddQueue)
        // begins it at once: two rounds taking tasks together is what can hand one of them null
        // (Queue.DequeueAllTasks) and throw a NullReferenceException out of StopAsync.
        await Task.Delay(200);
        rounds.ReleaseFirst.SetResult();
        await stopping;

        Assert.Equal(1, rounds.MostAtOnce);
        Assert.Equal(100, done);
    }

    /// <summary>
    /// Coravel's queue announces when a round begins (<see cref="QueueConsumationStarted"/>, before
    /// it takes any task) and ends. The first round (the periodic one, at the start) is held at its
    /// beginning until released; the most rounds under way at once are counted.
    /// </summary>
    sealed class Rounds : IDispatcher
    {
        public TaskCompletionSource FirstBegun { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource ReleaseFirst { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int MostAtOnce => mostAtOnce;
        int begun,
            underWay,
            mostAtOnce;

        public async Task Broadcast<TEvent>(TEvent toBroadcast)
            where TEvent : IEvent
        {
            if (toBroadcast is QueueConsumationEnded)
                Interlocked.Decrement(ref underWay);
            if (toBroadcast is not QueueConsumationStarted)
                return;
            var now = Interlocked.Increment(ref underWay);
            lock (this)
                mostAtOnce = Math.Max(mostAtOnce, now);
            if (Interlocked.Increment(ref begun) == 1)
            {
                FirstBegun.SetResult();
                await ReleaseFirst.Task;
            }
        }
    }
}
