using JasperFx.CommandLine;

namespace Campaign.Mail;

/// <summary>
/// <c>./Campaign outbox-drain</c> (e.g. <c>heroku run</c>): the clock's outbox sweep, once. It prints
/// how many messages it handled on stdout; logs go to stderr.
/// </summary>
[Description("Sends every outbox mail left unsent for over a minute, once", Name = "outbox-drain")]
public sealed class OutboxDrainCommand : JasperFxAsyncCommand<NetCoreInput>
{
    public override async Task<bool> Execute(NetCoreInput input)
    {
        using var host = input.BuildHost();
        var handled = await host.Services.GetRequiredService<MailRelay>().SweepAsync();
        Console.WriteLine(handled);
        return true;
    }
}
