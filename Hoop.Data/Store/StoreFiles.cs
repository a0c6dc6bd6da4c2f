namespace Hoop.Data.Store;

/// <summary>
/// The store holds encrypted secrets, recordings and the audit log: the data folder is the Hoop user's alone (0700)
/// and so are the store's files (0600), whatever the umask. SQLite gives a new -wal and -shm the mode of the
/// database file, so once hoop.db is right they are too.
/// </summary>
internal static class StoreFiles
{
    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The database and its companions, which SQLite may create beside it.</summary>
    public static IEnumerable<string> Files(StoreOptions options) =>
        [options.DatabasePath, options.DatabasePath + "-wal", options.DatabasePath + "-shm", options.DatabasePath + "-journal"];

    /// <summary>
    /// Creates an empty hoop.db owner-only before SQLite would create it with its default mode (an empty file is an
    /// empty SQLite database).
    /// </summary>
    public static void CreateDatabase(StoreOptions options)
    {
        if (OperatingSystem.IsWindows() || File.Exists(options.DatabasePath))
        {
            return;
        }

        using var _ = new FileStream(options.DatabasePath, new FileStreamOptions
        {
            Mode = System.IO.FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = FileMode,
        });
    }

    /// <summary>Gives the folder and every store file that others may read or write the owner-only mode; returns what it changed.</summary>
    public static List<(string Path, UnixFileMode Was, UnixFileMode Now)> Restrict(StoreOptions options)
    {
        var changed = new List<(string, UnixFileMode, UnixFileMode)>();
        if (OperatingSystem.IsWindows())
        {
            return changed;
        }

        // A shared folder such as /tmp (sticky) is not Hoop's to close; its files still are.
        if ((File.GetUnixFileMode(options.DataFolder) & UnixFileMode.StickyBit) == 0)
        {
            Restrict(options.DataFolder, FolderMode, changed);
        }

        foreach (var file in Files(options).Append(options.MasterKeyFile).Where(File.Exists))
        {
            Restrict(file, FileMode, changed);
        }

        return changed;
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void Restrict(string path, UnixFileMode wanted, List<(string, UnixFileMode, UnixFileMode)> changed)
    {
        var mode = File.GetUnixFileMode(path);
        // Only what group and others may do is taken away; the owner's own bits are left as they are.
        const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
        if ((mode & others) != 0)
        {
            var now = (mode & ~others) | (wanted & ~others);
            File.SetUnixFileMode(path, now);
            changed.Add((path, mode, now));
        }
    }
}
