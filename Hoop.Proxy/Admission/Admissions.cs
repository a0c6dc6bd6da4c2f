using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Admission;

/// <summary>
/// The steps every protocol takes before it forwards anything, written once: is the caller allowed on the connection,
/// is there room to record (in Required mode), then its session begins. Refusals are audited; a refused credential
/// only while the recorder has room to spare, so a flood of bad tokens cannot crowd out the recording of authorized
/// work. Finding the caller's credential and the connection is the protocol's (a header and a route; a startup
/// packet's password and database name), and so is the answer (problem+json; an ErrorResponse with a SQLSTATE).
/// </summary>
public sealed partial class Admissions(Recorder recorder, SessionTracker sessions, RecordingOptions recording, AuditLog audit, ILogger<Admissions> logger)
{
    /// <summary>Audits a refused credential (while the recorder has room to spare) and returns the refusal.</summary>
    internal Refusal Unauthenticated(string protocol, string target, string reason, object details)
    {
        if (recorder.Pending < recording.QueueCapacity / 2)
        {
            recorder.Enqueue(audit.Create("anonymous", $"{protocol}.unauthenticated", target, AuditOutcome.Denied, details));
        }

        return new Refusal(RefusalKind.Unauthenticated, reason);
    }

    /// <summary>
    /// Lets <paramref name="caller"/> onto <paramref name="connection"/>: its grant, room in the recording, its session
    /// (<paramref name="ownSession"/>: one for this client connection, as Postgres has; else the caller's live session on
    /// the connection, which HTTP exchanges share until it idles).
    /// </summary>
    internal async Task<AdmissionResult> AdmitAsync(string protocol, Caller caller, ConnectionPolicy connection, PolicySnapshot snapshot, string? client,
        bool ownSession, CancellationToken cancellationToken)
    {
        if (!connection.Enabled || !snapshot.Allows(caller, connection))
        {
            var reason = !connection.Enabled
                ? $"Connection '{connection.Name}' is disabled."
                : caller.Groups.Count == 0
                    ? $"Your credential carries no groups, and connection '{connection.Name}' is granted to groups only."
                    : $"None of your groups ({string.Join(", ", caller.Groups)}) holds a grant on connection '{connection.Name}'.";
            recorder.Enqueue(audit.Create(caller.Subject, $"{protocol}.forbidden", connection.Name, AuditOutcome.Denied, new { reason, groups = caller.Groups, client }));
            return new(null, new Refusal(RefusalKind.Forbidden, reason));
        }

        var required = snapshot.Recording.Mode == RecordingMode.Required;
        if (required && !await recorder.WaitForRoomAsync(Recorder.RoomWait, cancellationToken))
        {
            return CannotRecord(connection);
        }

        var session = ownSession ? sessions.StartOwn(caller, connection, client) : sessions.Begin(caller, connection, client);
        return session is null && required ? CannotRecord(connection) : new(session, null);
    }

    private AdmissionResult CannotRecord(ConnectionPolicy connection)
    {
        LogRecordingRefused(connection.Name);
        return new(null, new Refusal(RefusalKind.RecordingUnavailable,
            "Hoop cannot record this right now, and this gateway serves no unrecorded access. Try again shortly."));
    }

    [LoggerMessage(4020, LogLevel.Warning, "Refused access to {Connection}: recording cannot keep up")]
    private partial void LogRecordingRefused(string connection);
}
