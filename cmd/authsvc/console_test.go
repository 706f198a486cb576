package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeConsole: serve has the admin console at /console/ unless
// AUTHSVC_CONSOLE=false or --console=false, which leave it a 404.
func TestServeConsole(t *testing.T) {
	t.Parallel()
	client := &http.Client{Timeout: 10 * time.Second}
	status := func(url string) (int, http.Header) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"default", nil, nil, http.StatusOK},
		{"env off", map[string]string{"AUTHSVC_CONSOLE": "false"}, nil, http.StatusNotFound},
		{"flag off", nil, []string{"--console=false"}, http.StatusNotFound},
		{"flag on wins over env", map[string]string{"AUTHSVC_CONSOLE": "false"}, []string{"--console"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := productionEnv(t)
			for k, v := range tt.env {
				env[k] = v
			}
			srv := startServer(t, env, tt.args...)
			got, h := status(srv.url + "/console/")
			if got != tt.want {
				t.Fatalf("GET /console/ = %d, want %d", got, tt.want)
			}
			csp := h.Get("Content-Security-Policy")
			if tt.want == http.StatusOK && csp == "" {
				t.Error("GET /console/ has no Content-Security-Policy")
			}
			if tt.want == http.StatusNotFound && csp != "" {
				t.Errorf("a console that is off still sets its policy %q", csp)
			}
		})
	}
}

// TestServeDevNamesConsole: the dev banner points at the console when it
// is on, and not when it is off.
func TestServeDevNamesConsole(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		env := map[string]string{"AUTHSVC_DB": filepath.Join(t.TempDir(), "dev.db")}
		if !on {
			env["AUTHSVC_CONSOLE"] = "false"
		}
		srv := startServer(t, env, "--dev")
		if got := strings.Contains(srv.stdout.String(), srv.url+"/console/"); got != on {
			t.Errorf("console on %v: the dev banner names %s/console/: %v\n%s", on, srv.url, got, srv.stdout)
		}
	}
}
