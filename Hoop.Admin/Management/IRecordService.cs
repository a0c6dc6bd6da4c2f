namespace Hoop.Admin.Management;

/// <summary>
/// A kind of record admins keep (connections, groups, masking and guardrail rules, identity providers), listed, read,
/// created, replaced and deleted alike by the console and the admin API (<c>Api/RecordsApi.cs</c>). Every replace
/// and delete names the version it was made against (the API's If-Match; null takes whatever is stored), and a
/// record changed since answers <see cref="ChangeStatus.VersionMismatch"/>.
/// </summary>
public interface IRecordService<TInput, TView>
{
    /// <summary>The record's kind in messages: "connection", "masking rule".</summary>
    string Kind { get; }

    /// <summary>The record's key in its URL: its name, or an identity provider's id.</summary>
    string KeyOf(TView view);

    /// <summary>The version an ETag carries; null for a record that cannot be changed (an issuer from appsettings.json).</summary>
    string? VersionOf(TView view);

    Task<IReadOnlyList<TView>> ListAsync(CancellationToken cancellationToken);

    Task<TView?> GetAsync(string key, CancellationToken cancellationToken);

    Task<ChangeResult<TView>> CreateAsync(TInput input, string actor, CancellationToken cancellationToken);

    Task<ChangeResult<TView>> UpdateAsync(string key, TInput input, string? expectedVersion, string actor, CancellationToken cancellationToken);

    Task<ChangeResult<TView>> DeleteAsync(string key, string? expectedVersion, string actor, CancellationToken cancellationToken);
}

/// <summary>A kind of record with one save for create and replace (no name: a new record), addressed by its name.</summary>
public interface ISavedByName<TInput, TView> : IRecordService<TInput, TView>
{
    Task<ChangeResult<TView>> SaveAsync(string? existingName, TInput input, string? expectedVersion, string actor, CancellationToken cancellationToken);

    Task<ChangeResult<TView>> IRecordService<TInput, TView>.CreateAsync(TInput input, string actor, CancellationToken cancellationToken) =>
        SaveAsync(null, input, null, actor, cancellationToken);

    Task<ChangeResult<TView>> IRecordService<TInput, TView>.UpdateAsync(string key, TInput input, string? expectedVersion, string actor,
        CancellationToken cancellationToken) => SaveAsync(key, input, expectedVersion, actor, cancellationToken);
}
