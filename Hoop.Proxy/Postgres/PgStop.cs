using Hoop.Proxy.Guardrails;

namespace Hoop.Proxy.Postgres;

/// <summary>Why a query was not run: the ErrorResponse the agent gets, and what the recording says.</summary>
internal sealed record PgStop(GuardrailStop Stop, string SqlState, string Message, string? Detail, string? Rule);
