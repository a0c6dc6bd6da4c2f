using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Tests.Support;

namespace Hoop.Tests.Data.Secrets;

public sealed class MasterKeyTests : IDisposable
{
    private readonly TempFolder _folder = new();

    private StoreOptions Options => new() { DataFolder = _folder.Path, MasterKeyFile = _folder["master.key"] };

    [Fact]
    public void Load_NewStore_CreatesKeyFileReadableByOwnerOnly()
    {
        MasterKey.Load(Options, fromEnvironment: null, storeExists: false);

        Assert.True(File.Exists(Options.MasterKeyFile));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Options.MasterKeyFile));
        }

        Assert.Equal(32, Convert.FromBase64String(File.ReadAllText(Options.MasterKeyFile).Trim()).Length);
    }

    [Fact]
    public void Load_SecondTime_ReadsTheSameKey()
    {
        var first = MasterKey.Load(Options, null, storeExists: false);
        var second = MasterKey.Load(Options, null, storeExists: true);

        Assert.True(first.Key.SequenceEqual(second.Key));
    }

    [Fact]
    public void Load_CorruptKeyFile_NamesTheFileAndDoesNotReplaceIt()
    {
        File.WriteAllText(Options.MasterKeyFile, "not a key");

        var error = Assert.Throws<StartupException>(() => MasterKey.Load(Options, null, storeExists: true));

        Assert.Contains(Options.MasterKeyFile, error.Message);
        Assert.Contains("corrupt", error.Message);
        Assert.Equal("not a key", File.ReadAllText(Options.MasterKeyFile));
    }

    [Fact]
    public void Load_KeyFileMissingForExistingStore_RefusesToCreateANewOne()
    {
        var error = Assert.Throws<StartupException>(() => MasterKey.Load(Options, null, storeExists: true));

        Assert.Contains("missing", error.Message);
        Assert.False(File.Exists(Options.MasterKeyFile));
    }

    [Fact]
    public void Load_InvalidEnvironmentKey_NamesTheVariable()
    {
        var error = Assert.Throws<StartupException>(() => MasterKey.Load(Options, "c2hvcnQ=", storeExists: false));

        Assert.Contains(MasterKey.EnvironmentVariable, error.Message);
        Assert.False(File.Exists(Options.MasterKeyFile));
    }

    public void Dispose() => _folder.Dispose();
}
