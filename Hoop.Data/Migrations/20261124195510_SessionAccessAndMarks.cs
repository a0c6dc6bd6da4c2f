using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <inheritdoc />
    public partial class SessionAccessAndMarks : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "CallerKey",
                table: "Sessions",
                type: "TEXT",
                maxLength: 600,
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "Marks",
                table: "SessionEvents",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            // Events recorded before marks existed get them from their content, as the recorder sets them now.
            migrationBuilder.Sql("""
                UPDATE SessionEvents SET Marks =
                    (CASE WHEN instr(Content, '"masked":{') > 0 THEN 1 ELSE 0 END)
                    | (CASE WHEN instr(Content, '"error":"') > 0 AND Kind NOT LIKE '%-denied' AND Kind NOT LIKE '%-held' THEN 2 ELSE 0 END)
                WHERE instr(Content, '"masked":{') > 0 OR instr(Content, '"error":"') > 0
                """);

            migrationBuilder.CreateIndex(
                name: "IX_Sessions_CallerKey_StartedAt",
                table: "Sessions",
                columns: new[] { "CallerKey", "StartedAt" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Sessions_CallerKey_StartedAt",
                table: "Sessions");

            migrationBuilder.DropColumn(
                name: "CallerKey",
                table: "Sessions");

            migrationBuilder.DropColumn(
                name: "Marks",
                table: "SessionEvents");
        }
    }
}
