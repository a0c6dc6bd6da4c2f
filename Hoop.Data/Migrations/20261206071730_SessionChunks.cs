using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Hoop.Data.Migrations
{
    /// <inheritdoc />
    public partial class SessionChunks : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "SessionChunks",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    SessionId = table.Column<Guid>(type: "TEXT", nullable: false),
                    FirstSequence = table.Column<int>(type: "INTEGER", nullable: false),
                    LastSequence = table.Column<int>(type: "INTEGER", nullable: false),
                    Count = table.Column<int>(type: "INTEGER", nullable: false),
                    FirstAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    LastAt = table.Column<DateTime>(type: "TEXT", nullable: false),
                    Marks = table.Column<int>(type: "INTEGER", nullable: false),
                    Marked = table.Column<byte[]>(type: "BLOB", nullable: false),
                    Format = table.Column<int>(type: "INTEGER", nullable: false),
                    Length = table.Column<int>(type: "INTEGER", nullable: false),
                    Mac = table.Column<string>(type: "TEXT", nullable: false),
                    Data = table.Column<byte[]>(type: "BLOB", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_SessionChunks", x => x.Id);
                    table.ForeignKey(
                        name: "FK_SessionChunks_Sessions_SessionId",
                        column: x => x.SessionId,
                        principalTable: "Sessions",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_SessionChunks_SessionId_FirstSequence",
                table: "SessionChunks",
                columns: new[] { "SessionId", "FirstSequence" },
                unique: true);

            // Full-text search over chunks, one document per chunk (Hoop.Proxy/Recording/SearchIndex fills it; rowid = SessionChunks.Id).
            // Contentless: the chunk is the text, so the index keeps only its terms (a sixth of the size, a third less
            // time to index); contentless_delete lets retention delete a chunk's entry by rowid.
            migrationBuilder.Sql("CREATE VIRTUAL TABLE SessionChunkSearch USING fts5(Text, content='', contentless_delete=1)");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP TABLE SessionChunkSearch");
            migrationBuilder.Sql("DELETE FROM Settings WHERE Key = 'search.chunks-indexed-through'");
            migrationBuilder.DropTable(
                name: "SessionChunks");
        }
    }
}
