// Package migrations embeds the sql-migrate files so the binary and the tests
// run the same schema.
package migrations

import (
	"embed"

	migrate "github.com/rubenv/sql-migrate"
)

//go:embed *.sql
var files embed.FS

// Source is the migration set, for sql-migrate and pgtestdb's migrator.
func Source() *migrate.EmbedFileSystemMigrationSource {
	return &migrate.EmbedFileSystemMigrationSource{FileSystem: files, Root: "."}
}
