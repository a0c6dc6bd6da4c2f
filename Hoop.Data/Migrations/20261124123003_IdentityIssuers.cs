using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <inheritdoc />
    public partial class IdentityIssuers : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "IdentityIssuers",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    DisplayName = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    Authority = table.Column<string>(type: "TEXT", maxLength: 512, nullable: false),
                    Audience = table.Column<string>(type: "TEXT", maxLength: 512, nullable: false),
                    GroupsClaim = table.Column<string>(type: "TEXT", maxLength: 128, nullable: false),
                    ClientId = table.Column<string>(type: "TEXT", maxLength: 256, nullable: true),
                    ProtectedClientSecret = table.Column<string>(type: "TEXT", nullable: true),
                    ClientSecretChangedAt = table.Column<DateTime>(type: "TEXT", nullable: true),
                    RequireHttpsMetadata = table.Column<bool>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    Version = table.Column<Guid>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_IdentityIssuers", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_IdentityIssuers_Authority",
                table: "IdentityIssuers",
                column: "Authority",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "IdentityIssuers");
        }
    }
}
