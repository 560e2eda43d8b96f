namespace Campaign.Features.Hello;

/// <summary>STEP 1: the smallest answer a dyno can give, proving it is bound to $PORT.</summary>
public static class SayHello
{
    public static string Handle() => "こんにちは、Heroku！ Hello, Heroku!";
}
