namespace Campaign.Platform;

/// <summary>
/// One executable, three roles, chosen by the command line before any host is built (see Procfile):
/// <c>./Campaign --urls http://*:$PORT</c> serves the web, <c>./Campaign clock</c> runs the schedule,
/// anything else (<c>db-apply</c>, <c>db-assert</c>, <c>help</c>...) is a one-off admin command.
/// </summary>
public enum AppRole
{
    Web,
    Clock,
    Command,
}

public static class AppRoles
{
    public static AppRole FromArgs(string[] args) =>
        args switch
        {
            [] => AppRole.Web,
            [var first, ..] when first.StartsWith('-') => AppRole.Web,
            ["clock", ..] => AppRole.Clock,
            _ => AppRole.Command,
        };
}
