package httpapi

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestNoDatabaseImports pins that the HTTP layer reaches the database only
// through the stores and functions it is given: no file of the package
// (tests aside) imports sqldb or an SQL driver.
func TestNoDatabaseImports(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			switch {
			case path == "database/sql", path == "authsvc/internal/sqldb", strings.HasPrefix(path, "authsvc/internal/sqldb/"),
				strings.HasPrefix(path, "modernc.org/sqlite"), strings.HasPrefix(path, "github.com/jackc/pgx"):
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
