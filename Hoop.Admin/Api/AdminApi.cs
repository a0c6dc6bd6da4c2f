using Hoop.Admin.Management;
using Hoop.Data.Entities;

namespace Hoop.Admin.Api;

/// <summary>
/// /api/v1 on the console port: the same operations as the console, through the same services, for automation.
/// JSON in camelCase, problem+json errors with a field-level "errors" map, ETag / If-Match on records and settings.
/// One file per area; this one registers the services and policies and maps the areas.
/// </summary>
public static class AdminApi
{
    public const string AdminPolicy = "hoop-admin";
    public const string AuditorPolicy = "hoop-auditor";
    public const string ReviewerPolicy = "hoop-reviewer";
    public const string SignedInPolicy = "hoop-signed-in";

    public static IServiceCollection AddHoopAdminApi(this IServiceCollection services)
    {
        services.AddSingleton<ConnectionService>();
        services.AddSingleton<GroupService>();
        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<IssuerService>();
        services.AddSingleton<ConnectionTester>();
        services.AddSingleton<ActivityQueries>();
        services.AddSingleton<RecordingSettingsService>();
        services.AddSingleton<IntegrityService>();
        services.AddSingleton<CertificateSettingsService>();
        services.AddSingleton<MaskingRuleService>();
        services.AddSingleton<GuardrailRuleService>();
        services.AddSingleton<ReviewService>();
        services.AddSingleton<CertificateService>();
        services.AddSingleton<OverviewService>();
        services.AddSingleton<LogQueries>();
        services.AddAuthentication().AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiAuthenticationHandler>(ApiAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder().AddPolicy(AdminPolicy, p => p
            .AddAuthenticationSchemes(ApiAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser()
            .RequireRole(nameof(Roles.Admin)))
            .AddPolicy(AuditorPolicy, p => p
            .AddAuthenticationSchemes(ApiAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser()
            .RequireRole(nameof(Roles.Admin), nameof(Roles.Auditor)))
            .AddPolicy(SignedInPolicy, p => p
            .AddAuthenticationSchemes(ApiAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser())
            .AddPolicy(ReviewerPolicy, p => p
            .AddAuthenticationSchemes(ApiAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser()
            .RequireRole(nameof(Roles.Admin), nameof(Roles.Reviewer)));
        services.AddOpenApi("v1", o =>
        {
            o.ShouldInclude = d => d.RelativePath?.StartsWith("api/v1/", StringComparison.Ordinal) == true;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Hoop admin API";
                document.Info.Description = "The console's operations for automation. Authenticate with 'Authorization: Bearer <OIDC access token or Hoop API key>' of a caller whose groups carry the admin role.";
                return Task.CompletedTask;
            });
        });
        // Enums by name only: a number (even out of range) or a combination of names would otherwise be stored as it came.
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.Converters.Add(new EnumNames());
            o.SerializerOptions.Converters.Add(new UtcTimes());
        });
        // A body that does not bind throws, so ApiRequests answers it as problem+json naming the field.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    public static void MapAdminApi(this IEndpointRouteBuilder endpoints)
    {
        // The API's description is public: it holds no data, and automation reads it before it has a key.
        endpoints.MapOpenApi("/api/{documentName}/openapi.json").AllowAnonymous();
        // What happened is for auditors too; reviews for reviewers; everything that changes something is for admins only.
        endpoints.MapActivityApi();
        endpoints.MapReviewsApi();
        endpoints.MapStatusApi();

        var api = endpoints.MapGroup("/api/v1").RequireAuthorization(AdminPolicy).DisableAntiforgery().WithTags("admin");
        api.MapRecords<ConnectionService, ConnectionInput, ConnectionView>("/connections");
        api.MapRecords<GroupService, GroupInput, GroupView>("/groups");
        api.MapRecords<MaskingRuleService, MaskingRuleInput, MaskingRuleView>("/masking-rules");
        api.MapPost("/masking/test", (MaskingTestInput input, MaskingRuleService s, HttpContext http) => ApiResults.Answer(http, s.Test(input), null));
        api.MapRecords<GuardrailRuleService, GuardrailRuleInput, GuardrailRuleView>("/guardrail-rules");
        api.MapRecords<IssuerService, IssuerInput, IssuerView>("/issuers", key: "id");
        api.MapSettingsApi();
        api.MapCertificatesApi();
        api.MapApiKeysApi();
    }
}
