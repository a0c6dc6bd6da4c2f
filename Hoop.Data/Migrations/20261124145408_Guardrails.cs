using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <inheritdoc />
    public partial class Guardrails : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "ConnectionName",
                table: "Reviews",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "ReviewerGroup",
                table: "Reviews",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "RuleName",
                table: "Reviews",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "BodyPattern",
                table: "GuardrailRules",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "HeaderName",
                table: "GuardrailRules",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "HeaderPattern",
                table: "GuardrailRules",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "ConnectionName",
                table: "Reviews");

            migrationBuilder.DropColumn(
                name: "ReviewerGroup",
                table: "Reviews");

            migrationBuilder.DropColumn(
                name: "RuleName",
                table: "Reviews");

            migrationBuilder.DropColumn(
                name: "BodyPattern",
                table: "GuardrailRules");

            migrationBuilder.DropColumn(
                name: "HeaderName",
                table: "GuardrailRules");

            migrationBuilder.DropColumn(
                name: "HeaderPattern",
                table: "GuardrailRules");
        }
    }
}
