using Campaign.Features;
using Campaign.Features.Entering;
using Campaign.Features.Health;
using Campaign.Features.Hello;
using Campaign.Features.Me;
using Campaign.Features.Ops;
using Campaign.Features.Photos;
using Campaign.Features.Privacy;
using Campaign.Features.SignIn;
using Campaign.Platform;
using Carter;

namespace Campaign;

/// <summary>THE route table: every HTTP endpoint of the app, on one screen.</summary>
public sealed class Routes : ICarterModule
{
    public void AddRoutes(IEndpointRouteBuilder app)
    {
        // STEP 1: Hello World
        app.MapGet("/hello", SayHello.Handle);

        // Pages for people (STEPS 2-3): forms carry anti-forgery tokens, answers are HTML
        var pages = app.MapGroup("").ExcludeFromDescription().WithSmallBodies();
        pages.MapGet("/", GetCampaign.ShowLanding); // served from LandingCopies
        pages.MapGet("/signup", SubmitEntry.ShowForm);
        pages.MapPost("/signup", SubmitEntry.HandleForm).AddEndpointFilter<PerClientLimit>();
        pages.MapGet("/signup/sent", SubmitEntry.ShowSent);
        pages.MapGet("/sign-in", StartSession.ShowForm);
        pages
            .MapPost("/sign-in", StartSession.HandleForm)
            .AddEndpointFilter<PerClientLimit>()
            .StartsNewSession();
        pages.MapPost("/sign-in/link", RequestLink.HandleForm).AddEndpointFilter<PerClientLimit>();
        pages.MapGet("/sign-in/sent", RequestLink.ShowSent);
        pages.MapPost("/sign-out", EndSession.HandleForm);
        pages.MapGet("/me", GetMe.ShowPage);
        pages.MapPost("/me/withdraw", Withdraw.HandleForm);
        pages.MapGet("/lang/{code}", SwitchLanguage.Handle);
        pages.MapGet("/unsubscribe/{token}", Unsubscribe.Show);
        // The token is the authority here, and mailbox providers post without a form of ours.
        pages.MapPost("/unsubscribe/{token}", Unsubscribe.Confirm).DisableAntiforgery();
        pages.MapGet("/terms", InformationPages.Terms);
        pages.MapGet("/privacy", InformationPages.Privacy);
        if (app.ServiceProvider.GetRequiredService<IHostEnvironment>().IsDevelopment())
            pages.MapGet("/dev/mail", ShowDevMailbox.Page); // the local mailbox, Development only

        // Operators only (OPERATOR_EMAILS): to anyone else, these paths do not exist (404)
        var ops = app.MapGroup("/ops")
            .ExcludeFromDescription()
            .AddEndpointFilter(Operators.Require);
        ops.MapGet("", ShowDashboard.Page);
        ops.MapGet("/charts", ShowDashboard.Charts);
        ops.MapGet("/export.csv", ExportAnalytics.Csv);

        // Operations: liveness for people and monitors, readiness of the backing services
        app.MapGet("/healthz", CheckHealth.Live);
        app.MapGet("/readyz", CheckHealth.Ready);

        // The JSON API (STEPS 2-3): small JSON bodies only, problem details for every error
        var api = app.MapGroup("/api/v1").WithSmallBodies();
        api.ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status405MethodNotAllowed)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status500InternalServerError)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        api.MapGet("/campaign", GetCampaign.Handle)
            .WithSummary("The campaign: title, period, open or closed, number of entrants");
        api.MapPost("/entries", SubmitEntry.Handle)
            .WithSummary(
                "Enter the campaign (or, for an address already entered, get a sign-in link)"
            )
            .AddEndpointFilter<PerClientLimit>()
            .ProducesValidationProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        api.MapPost("/session", StartSession.Handle)
            .StartsNewSession()
            .WithSummary("Sign in with the token from a mail; answers with the session cookie")
            .AddEndpointFilter<PerClientLimit>()
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        // (Delegate): a handler taking only HttpContext would otherwise be read as a RequestDelegate.
        api.MapDelete("/session", (Delegate)EndSession.Handle)
            .WithSummary("Sign out, everywhere this session is used");

        // Only for a signed-in entrant (Giraffe's mustBeUser >=> handler)
        var me = api.MapGroup("")
            .AddEndpointFilter(CurrentEntrant.Require)
            .ProducesProblem(StatusCodes.Status401Unauthorized);
        me.MapGet("/me", GetMe.Handle).WithSummary("The signed-in entrant");
        me.MapGet("/me/export", ExportMyData.Handle)
            .WithSummary("Everything held about the signed-in entrant, as a JSON file");
        me.MapPost("/me/photo-uploads", IssuePhotoUpload.Handle)
            .WithSummary("Sign a photo upload: the browser then posts the file straight to S3")
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        me.MapPut("/me/photo", AttachPhoto.Handle)
            .WithSummary("Attach an uploaded photo, after verifying it")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status410Gone)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        me.MapDelete("/me/photo", RemovePhoto.Handle).WithSummary("Remove the photo");
        me.MapDelete("/me", Withdraw.Handle)
            .WithSummary(
                "Withdraw: delete the entrant, their mail and their sessions on every device"
            );

        // The API's description, pinned by a snapshot test
        app.MapOpenApi();
    }
}
