namespace Hoop.Proxy.Guardrails;

/// <summary>How a guardrail stopped a request or query, as its recording says: by a deny rule, or held by a review.</summary>
public enum GuardrailStop
{
    Denied,
    Held,
}
