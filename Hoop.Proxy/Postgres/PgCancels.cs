using System.Collections.Concurrent;
using System.Security.Cryptography;
using Hoop.Proxy.Model;

namespace Hoop.Proxy.Postgres;

/// <summary>
/// Cancel keys. Each agent gets a BackendKeyData of Hoop's own, so it never learns the database's process id or
/// secret; a CancelRequest with that key is sent on as the backend's own.
/// </summary>
public sealed class PgCancels
{
    private readonly ConcurrentDictionary<long, Target> _targets = new();

    public sealed record Target(ConnectionPolicy Connection, int ProcessId, int Secret);

    /// <summary>A fresh key for the agent, standing for the backend's.</summary>
    public (int ProcessId, int Secret) Register(ConnectionPolicy connection, int backendProcessId, int backendSecret)
    {
        while (true)
        {
            var processId = RandomNumberGenerator.GetInt32(1, int.MaxValue);
            var secret = BitConverter.ToInt32(RandomNumberGenerator.GetBytes(4));
            if (_targets.TryAdd(Key(processId, secret), new Target(connection, backendProcessId, backendSecret)))
            {
                return (processId, secret);
            }
        }
    }

    public void Remove(int processId, int secret) => _targets.TryRemove(Key(processId, secret), out _);

    public Target? Find(int processId, int secret) => _targets.GetValueOrDefault(Key(processId, secret));

    private static long Key(int processId, int secret) => ((long)processId << 32) | (uint)secret;
}
