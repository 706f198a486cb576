package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// TestRoutesMatchSpec checks that the router serves exactly the operations
// api/openapi.yaml describes, no more and no fewer.
func TestRoutesMatchSpec(t *testing.T) {
	t.Parallel()
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	var inSpec []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inSpec = append(inSpec, method+" "+path)
		}
	}
	// The console's static files are no part of the API; every other
	// route is.
	e := newEnv(t, func(s *envSetup) { s.console = http.NotFoundHandler() })
	var inRouter []string
	err = chi.Walk(e.api.mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if route == "/console" || strings.HasPrefix(route, "/console/") {
			return nil
		}
		inRouter = append(inRouter, method+" "+strings.TrimSuffix(route, "/"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(inSpec)
	slices.Sort(inRouter)
	if !slices.Equal(inSpec, inRouter) {
		t.Errorf("router and spec differ\nrouter: %q\nspec:   %q", inRouter, inSpec)
	}
}
