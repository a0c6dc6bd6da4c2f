using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <inheritdoc />
    public partial class SessionEventSearch : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Full-text search over recorded events (Hoop.Proxy/Recording/SearchIndex fills it; rowid = SessionEvents.Id).
            migrationBuilder.Sql("CREATE VIRTUAL TABLE SessionEventSearch USING fts5(Summary, Content)");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP TABLE SessionEventSearch");
            migrationBuilder.Sql("DELETE FROM Settings WHERE Key = 'search.indexed-through'");
        }
    }
}
