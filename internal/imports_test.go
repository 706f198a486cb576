// Package internal holds no code: its one test pins which way the imports
// of the module's packages may point.
package internal

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "authsvc"

// importRule says what one package's code (tests aside) may not import.
type importRule struct {
	pkg    string                      // import path of the package it binds
	why    string                      // the rule, for the failure message
	forbid func(imp string) (bad bool) // reports an import the rule refuses
}

func inModule(imp string) bool { return imp == module || strings.HasPrefix(imp, module+"/") }

func under(imp, prefix string) bool { return imp == prefix || strings.HasPrefix(imp, prefix+"/") }

// thirdParty reports an import outside the standard library, whose paths
// have no dot in their first element.
func thirdParty(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return strings.Contains(first, ".")
}

// TestImports reads the imports of every non-test Go file of the module with
// go/parser, so it needs no toolchain beyond the test binary, and fails
// naming the file and the import that break a rule.
func TestImports(t *testing.T) {
	t.Parallel()
	// The rules of issue 10. Every package also obeys the rule that nothing
	// imports a command.
	rules := []importRule{
		{"authsvc/internal/token", "token imports nothing of authsvc", inModule},
		{"authsvc/internal/idp", "idp imports nothing of authsvc", inModule},
		{"authsvc/internal/ratelimit", "ratelimit imports nothing of authsvc", inModule},
		{"authsvc/internal/sharedlimit", "sharedlimit imports only authsvc/internal/ratelimit of authsvc",
			func(imp string) bool { return inModule(imp) && imp != "authsvc/internal/ratelimit" }},
		{"authsvc/internal/apps", "apps imports only the standard library (not net/http) and authsvc/internal/token",
			func(imp string) bool {
				return imp != "authsvc/internal/token" && (inModule(imp) || thirdParty(imp) || under(imp, "net/http"))
			}},
		{"authsvc/internal/zego", "zego imports only the standard library",
			func(imp string) bool { return inModule(imp) || thirdParty(imp) }},
		{"authsvc/internal/zego/zegofake", "zegofake imports only the standard library, not even zego, so its checks stay its own",
			func(imp string) bool { return inModule(imp) || thirdParty(imp) }},
		{"authsvc/internal/zimsync", "zimsync imports only authsvc/internal/sqldb of authsvc: its Sender is its own interface, which cmd adapts the zego client to",
			func(imp string) bool { return inModule(imp) && imp != "authsvc/internal/sqldb" }},
		{"authsvc/internal/httpapi", "httpapi reaches the database only through what it is given: no database/sql, SQL driver or sqldb",
			func(imp string) bool {
				return under(imp, "database/sql") || under(imp, "authsvc/internal/sqldb") ||
					under(imp, "modernc.org/sqlite") || strings.HasPrefix(imp, "github.com/jackc/pgx")
			}},
	}
	root := ".." // this file sits in <module>/internal
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found beside internal/: %v", err)
	}
	imports := map[string]map[string][]string{} // package path -> file -> imports
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			base := d.Name()
			if name != root && (base == "testdata" || base == "vendor" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(name))
		if err != nil {
			return err
		}
		pkg := path.Join(module, filepath.ToSlash(rel))
		if imports[pkg] == nil {
			imports[pkg] = map[string][]string{}
		}
		file := filepath.ToSlash(filepath.Join(rel, filepath.Base(name)))
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Errorf("%s: import %s: %v", file, imp.Path.Value, err)
				continue
			}
			imports[pkg][file] = append(imports[pkg][file], p)
		}
		if imports[pkg][file] == nil {
			imports[pkg][file] = []string{}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, r := range rules {
		files, ok := imports[r.pkg]
		if !ok {
			t.Errorf("package %s has no non-test Go file; the rule %q binds nothing", r.pkg, r.why)
		}
		for _, file := range sortedKeys(files) {
			for _, imp := range files[file] {
				if r.forbid(imp) {
					t.Errorf("%s imports %s: %s", file, imp, r.why)
				}
			}
		}
	}
	if _, ok := imports["authsvc/cmd/authsvc"]; !ok {
		t.Errorf("package authsvc/cmd/authsvc not found; is the walk reading the module?")
	}
	for _, pkg := range sortedKeys(imports) {
		for _, file := range sortedKeys(imports[pkg]) {
			for _, imp := range imports[pkg][file] {
				if under(imp, "authsvc/cmd") {
					t.Errorf("%s imports %s: nothing imports a command", file, imp)
				}
			}
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
