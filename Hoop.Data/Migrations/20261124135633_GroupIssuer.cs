using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <inheritdoc />
    public partial class GroupIssuer : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Issuer",
                table: "Groups",
                type: "TEXT",
                maxLength: 512,
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Issuer",
                table: "Groups");
        }
    }
}
