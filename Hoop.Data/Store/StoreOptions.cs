namespace Hoop.Data.Store;

/// <summary>Where the store lives. Bound from the "Hoop" configuration section; paths made absolute after binding.</summary>
public sealed class StoreOptions
{
    /// <summary>Folder for the SQLite store and the master key file. Relative paths start at the working directory.</summary>
    public string DataFolder { get; set; } = "data";

    /// <summary>The master key file; defaults to master.key in the data folder. HOOP_MASTER_KEY wins over it.</summary>
    public string MasterKeyFile { get; set; } = "";

    /// <summary>How many log events may wait for the SQLite sink before new ones are dropped (and counted).</summary>
    public int LogQueueCapacity { get; init; } = 10_000;

    public string DatabasePath => Path.Combine(DataFolder, "hoop.db");

    public string ConnectionString => $"Data Source={DatabasePath};Foreign Keys=True;Pooling=True;Default Timeout=30";

    /// <summary>Makes both paths absolute (relative to the working directory) and fills in the key file's default.</summary>
    public void ResolvePaths()
    {
        DataFolder = Path.GetFullPath(string.IsNullOrWhiteSpace(DataFolder) ? "data" : DataFolder.Trim());
        MasterKeyFile = Path.GetFullPath(string.IsNullOrWhiteSpace(MasterKeyFile) ? Path.Combine(DataFolder, "master.key") : MasterKeyFile.Trim());
    }
}
