using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <summary>
    /// Denials and holds are marks too (as their kinds say), and the marked events of a session have an index of their
    /// own, so a replay's timeline reads them without reading the rest. Marks are not part of an event's chained
    /// content: setting them on events already recorded changes no hash.
    /// </summary>
    public partial class EventMarksForStops : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("UPDATE \"SessionEvents\" SET \"Marks\" = \"Marks\" | 8 WHERE \"Kind\" LIKE '%-denied';");
            migrationBuilder.Sql("UPDATE \"SessionEvents\" SET \"Marks\" = \"Marks\" | 16 WHERE \"Kind\" LIKE '%-held';");
            migrationBuilder.CreateIndex(
                name: "IX_SessionEvents_Marked",
                table: "SessionEvents",
                columns: new[] { "SessionId", "Sequence" },
                filter: "\"Marks\" <> 0");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_SessionEvents_Marked",
                table: "SessionEvents");
            migrationBuilder.Sql("UPDATE \"SessionEvents\" SET \"Marks\" = \"Marks\" & ~24;");
        }
    }
}
