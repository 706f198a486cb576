package apps

import (
	"go/parser"
	gotoken "go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps apps free of HTTP and storage: besides the standard
// library it may import only authsvc/internal/token.
func TestImports(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := gotoken.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if path != "authsvc/internal/token" && (strings.Contains(first, ".") || first == "authsvc" || path == "net/http") {
				t.Errorf("%s imports %s; apps may import only the standard library (not net/http) and internal/token", name, path)
			}
		}
	}
}
