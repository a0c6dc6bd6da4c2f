using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Hoop.Data.Store;

/// <summary>Lets `dotnet ef migrations add` build the model without starting the host.</summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<HoopDbContext>
{
    public HoopDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<HoopDbContext>()
            .UseSqlite($"Data Source={Path.Combine(Path.GetTempPath(), "hoop-design.db")}")
            .Options);
}
