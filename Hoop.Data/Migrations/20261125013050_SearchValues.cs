using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <summary>
    /// The search index holds an event's values now, not its JSON: emptied, so the indexer indexes every event
    /// again, the older ones the same way as new ones.
    /// </summary>
    public partial class SearchValues : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder) => Reindex(migrationBuilder);

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder) => Reindex(migrationBuilder);

        private static void Reindex(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DELETE FROM SessionEventSearch");
            migrationBuilder.Sql("DELETE FROM Settings WHERE Key = 'search.indexed-through'");
        }
    }
}
