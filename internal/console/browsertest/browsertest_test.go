package browsertest

import (
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"authsvc/internal/console"
)

var titleTag = regexp.MustCompile(`(?is)<title>(.*?)</title>`)

// TestConsoleTitle loads the embedded console in Chromium and reads the
// page's title, which must be the one index.html declares.
func TestConsoleTitle(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(console.Handler())
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	m := titleTag.FindSubmatch(body)
	if m == nil {
		t.Fatalf("/console/ declares no <title>:\n%s", body)
	}
	want := strings.Join(strings.Fields(html.UnescapeString(string(m[1]))), " ") // as document.title collapses it

	ctx := New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/console/")); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if got != want || got == "" {
		t.Errorf("document.title = %q, want %q", got, want)
	}
}

// TestNoBrowser: without a browser New skips, or fails when one is
// required. It runs New in a child test that the environment points at a
// browser that does not exist.
func TestNoBrowser(t *testing.T) {
	t.Setenv("AUTHSVC_CHROMIUM", t.TempDir()+"/no-such-chromium")
	for _, required := range []string{"", "1"} {
		t.Setenv("AUTHSVC_REQUIRE_BROWSER", required)
		// A fake testing.TB records what New does with it.
		rec := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			New(rec)
		}()
		<-done
		switch {
		case required == "1" && !rec.fatal:
			t.Errorf("AUTHSVC_REQUIRE_BROWSER=1 and no browser: New did not fail the test (skipped %v)", rec.skipped)
		case required == "" && (!rec.skipped || rec.fatal):
			t.Errorf("no browser: New skipped %v, failed %v; want a skip", rec.skipped, rec.fatal)
		}
	}
}

// recorder is a testing.TB whose Skip and Fatal end the goroutine, as the
// real ones do, and are remembered instead of ending the test.
type recorder struct {
	testing.TB
	skipped, fatal bool
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = true
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = true
	runtime.Goexit()
}
