using Hoop.Proxy.Recording;

namespace Hoop.Proxy.Admission;

/// <summary>The outcome of admission: the session the caller's work is recorded in (null when recording is best effort and none could start), or the refusal.</summary>
internal sealed record AdmissionResult(LiveSession? Session, Refusal? Refusal);
