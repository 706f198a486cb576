package ratelimit

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps ratelimit a leaf: its code imports nothing of authsvc,
// so any front end or store can use it and it can use none of them.
func TestImports(t *testing.T) {
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
			if path, _ := strconv.Unquote(imp.Path.Value); path == "authsvc" || strings.HasPrefix(path, "authsvc/") {
				t.Errorf("%s imports %s; ratelimit imports nothing of authsvc", name, path)
			}
		}
	}
}
