using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <inheritdoc />
    public partial class DashboardActivity : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_SessionEvents_At",
                table: "SessionEvents",
                column: "At");

            migrationBuilder.CreateIndex(
                name: "IX_SessionChunks_FirstAt",
                table: "SessionChunks",
                column: "FirstAt");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_SessionEvents_At",
                table: "SessionEvents");

            migrationBuilder.DropIndex(
                name: "IX_SessionChunks_FirstAt",
                table: "SessionChunks");
        }
    }
}
