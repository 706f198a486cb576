package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"authsvc/internal/apps"
	"authsvc/internal/token"
)

func TestValidateOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		origin string
		want   string // part of the error; "" for valid
	}{
		{"https://app.example.com", ""},
		{"http://localhost:5173", ""},
		{"http://127.0.0.1:8080", ""},
		{"https://[::1]:8443", ""},
		{"https://xn--bcher-kva.example", ""},
		{"*", "pattern"},
		{"https://*", "pattern"},
		{"https://*.example.com", "pattern"},
		{"http*://app.example.com", "pattern"},
		{"", "not an origin"},
		{"app.example.com", "not an origin"},
		{"//app.example.com", "not an origin"},
		{"ftp://app.example.com", "not an origin"},
		{"null", "not an origin"},
		{"https:app.example.com", "not an origin"},
		{"HTTPS://app.example.com", "exactly"},
		{"https://App.Example.com", "lower-case"},
		{"https://app.example.com/", "path"},
		{"https://app.example.com/app", "path"},
		{"https://app.example.com?x=1", "query"},
		{"https://app.example.com?", "query"},
		{"https://app.example.com#top", "fragment"},
		{"https://app.example.com#", "fragment"},
		{"https://user@app.example.com", "user info"},
		{"https://user:pw@app.example.com", "user info"},
		{"https://app.example.com:", "port is empty"},
		{"https://app.example.com:0", "port 0"},
		{"https://app.example.com:65536", "port 65536"},
		{"https://app.example.com:0443", "leading zero"},
		{"https://app.example.com:443", "default"},
		{"http://app.example.com:80", "default"},
		{"https://app.example.com:abc", "not an origin"},
		{"https://bücher.example", "lower-case ASCII"},
		{"https://app..example.com", "empty label"},
		{"https://app.example.com.", "empty label"},
		{"https://[fe80::1%25eth0]", "not an origin"},
		{"https://[1.2.3.4]", "not an origin"},
		{"https://[::ffff:1.2.3.4]", ""},
		{"https://app_example.com", "lower-case ASCII"},
		{" https://app.example.com", "not an origin"},
	}
	for _, tt := range tests {
		err := ValidateOrigin(tt.origin)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateOrigin(%q) = %v, want nil", tt.origin, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ValidateOrigin(%q) = %v, want an error saying %q", tt.origin, err, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), tt.origin):
			t.Errorf("ValidateOrigin(%q) = %v, want the value named", tt.origin, err)
		}
	}
}

// TestNewServerRefusesCORSPatterns: the configuration is checked before the
// server is built, so no pattern reaches the CORS middleware.
func TestNewServerRefusesCORSPatterns(t *testing.T) {
	t.Parallel()
	key, err := token.NewKey([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	for _, origins := range [][]string{{"*"}, {"https://app.example.com", "https://*"}, {"https://app.example.com/"}} {
		creds := &Credentials{
			Apps: []apps.App{{ID: testAppID, Keys: []*token.Key{key}, Variant: token.GCM,
				TTL: apps.TTLBounds{Default: time.Hour, Min: time.Minute, Max: 24 * time.Hour}}},
			DefaultApp: testAppID,
			AdminKeys:  []AdminKey{NewAdminKey([]byte(testAdminKey))},
			SessionKey: []byte("session-key-for-tests-0123456789abcdef"),
		}
		cfg := Config{SessionTTL: time.Hour, CORSOrigins: origins}
		_, err := NewServer(cfg, creds, Deps{})
		if err == nil || !strings.Contains(err.Error(), "CORS") || !strings.Contains(err.Error(), origins[len(origins)-1]) {
			t.Errorf("NewServer with CORS origins %q = %v, want an error naming the setting and the value", origins, err)
		}
	}
}

// TestCORSExactOrigin: a configured origin allows only itself, not a site
// whose origin merely starts or ends with it.
func TestCORSExactOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) { s.cfg.CORSOrigins = []string{"https://app.example.com"} })
	for _, tt := range []struct {
		origin  string
		allowed bool
	}{
		{"https://app.example.com", true},
		{"https://app.example.com.evil.example", false},
		{"https://evil-app.example.com", false},
		{"http://app.example.com", false},
		{"https://app.example.com:8443", false},
	} {
		req, _ := http.NewRequest("OPTIONS", e.srv.URL+"/v1/token", nil)
		req.Header.Set("Origin", tt.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); (got == tt.origin) != tt.allowed || !tt.allowed && got != "" {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin = %q, want allowed %v", tt.origin, got, tt.allowed)
		}
	}
}
