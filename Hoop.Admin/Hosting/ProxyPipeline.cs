namespace Hoop.Admin.Hosting;

/// <summary>What the proxy port answers. No connection is routable yet: every request gets a 404 problem.</summary>
internal static class ProxyPipeline
{
    public static void Configure(IApplicationBuilder proxy) => proxy.Run(async context =>
    {
        var problem = TypedResults.Problem(
            statusCode: StatusCodes.Status404NotFound,
            title: "Unknown connection",
            detail: $"No connection is registered for host '{context.Request.Host.Host}' and path '{context.Request.Path}'.");
        await problem.ExecuteAsync(context);
    });
}
