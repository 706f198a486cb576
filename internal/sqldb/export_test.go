package sqldb

import (
	"context"
	"io/fs"
)

// OpenFS is OpenWith with the migrations taken from fsys, for tests of
// migrating on every dialect.
func OpenFS(ctx context.Context, dsn string, fsys fs.FS, o Options) (*DB, error) {
	if IsPostgresURL(dsn) {
		return openPostgres(ctx, dsn, fsys, o)
	}
	return open(ctx, dsn, fsys, o)
}
