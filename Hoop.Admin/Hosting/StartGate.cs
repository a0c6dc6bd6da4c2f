namespace Hoop.Admin.Hosting;

/// <summary>
/// The ports open before the store is migrated and the policy loaded (<see cref="ServerFirst"/>). A request that comes
/// in meanwhile waits for start-up to finish, or gets 503 with Retry-After when it takes longer than
/// <see cref="Patience"/>; the liveness check answers at once, the readiness check says "starting" at once.
/// </summary>
internal sealed class StartGate
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public StartGate(IHostApplicationLifetime lifetime) => lifetime.ApplicationStarted.Register(() => _started.TrySetResult());

    public bool IsOpen => _started.Task.IsCompleted;

    public RequestDelegate Wrap(RequestDelegate next) => context =>
        IsOpen || context.Request.Path.Equals("/healthz", StringComparison.Ordinal) ? next(context) : WaitAsync(context, next);

    private async Task WaitAsync(HttpContext context, RequestDelegate next)
    {
        if (!context.Request.Path.Equals("/readyz", StringComparison.Ordinal))
        {
            try
            {
                await _started.Task.WaitAsync(Patience, context.RequestAborted);
                await next(context);
                return;
            }
            catch (TimeoutException)
            {
                // Still starting (a long migration): say so rather than hold the client.
            }
        }

        context.Response.Headers.RetryAfter = "1";
        await Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Hoop is starting",
            detail: "Hoop is still starting (store, policy, certificates). Try again in a moment.").ExecuteAsync(context);
    }
}
