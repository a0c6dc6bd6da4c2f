using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <summary>An identity provider may be trusted through a CA bundle of its own (a provider behind a private CA).</summary>
    public partial class IssuerCaBundle : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "CaBundlePem",
                table: "IdentityIssuers",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "CaBundlePem",
                table: "IdentityIssuers");
        }
    }
}
