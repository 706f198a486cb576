package zego

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"
)

// TestSignatureSample is ZEGO's published example of the server API
// signature.
func TestSignatureSample(t *testing.T) {
	t.Parallel()
	got := signature("12345", "4fd24687296dd9f3", "9193cc662a4c0ec135ec71fb57194b38", 1615186943)
	if want := "43e5cfcca828314675f91b001390566a"; got != want {
		t.Errorf("signature(sample) = %s, want %s", got, want)
	}
}

func TestDecodeResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want response
		bad  bool
	}{
		{"success", `{"Code":0,"Message":"success","RequestId":"343649807833778782"}`,
			response{Message: "success", RequestID: "343649807833778782"}, false},
		{"numeric request id", `{"Code":0,"RequestId":343649807833778782}`,
			response{RequestID: "343649807833778782"}, false},
		{"partial", `{"Code":0,"RequestId":"1","ErrorList":[{"UserId":"a","SubCode":660000012,"SubMessage":"user length limit"}]}`,
			response{RequestID: "1", Items: []ItemError{{"a", CodeUserIDTooLong, "user length limit"}}}, false},
		{"failed", `{"Code":660700001,"Message":"too many"}`, response{Code: CodeRateLimited, Message: "too many"}, false},
		{"no code", `{"Message":"x"}`, response{}, true},
		{"string code", `{"Code":"0"}`, response{}, true},
		{"fraction code", `{"Code":0.5}`, response{}, true},
		{"string subcode", `{"Code":0,"ErrorList":[{"UserId":"a","SubCode":"1"}]}`, response{}, true},
		{"bool request id", `{"Code":0,"RequestId":true}`, response{}, true},
		{"not json", `<html>bad gateway</html>`, response{}, true},
		{"array", `[]`, response{}, true},
		{"empty", ``, response{}, true},
	}
	for _, tt := range tests {
		got, err := decodeResponse([]byte(tt.in))
		if tt.bad {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Errorf("%s: decodeResponse(%q) error = %v, want ErrMalformedResponse", tt.name, tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: decodeResponse(%q) error = %v", tt.name, tt.in, err)
			continue
		}
		if got.Code != tt.want.Code || got.Message != tt.want.Message || got.RequestID != tt.want.RequestID ||
			len(got.Items) != len(tt.want.Items) || (len(got.Items) > 0 && got.Items[0] != tt.want.Items[0]) {
			t.Errorf("%s: decodeResponse(%q) = %+v, want %+v", tt.name, tt.in, got, tt.want)
		}
	}
}

// TestDecodeResponseClipsTexts keeps a hostile Message from flooding logs.
func TestDecodeResponseClipsTexts(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 1000)
	r, err := decodeResponse([]byte(`{"Code":1,"Message":"` + long + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Message) > maxMessageBytes+3 || !utf8.ValidString(r.Message) {
		t.Errorf("Message has %d bytes (valid UTF-8: %v), want at most %d and valid", len(r.Message), utf8.ValidString(r.Message), maxMessageBytes)
	}
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"Code":0,"Message":"success","RequestId":"1"}`,
		`{"Code":0,"ErrorList":[{"UserId":"a","SubCode":660700007,"SubMessage":"x"}]}`,
		`{"Code":660700002,"ErrorList":[{"UserId":"a","SubCode":660700002}]}`,
		`{"Code":1,"RequestId":12}`, `{"Code":null}`, `{}`, `null`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeResponse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedResponse) {
				t.Fatalf("decodeResponse error %v does not wrap ErrMalformedResponse", err)
			}
			return
		}
		for _, s := range []string{r.Message, r.RequestID} {
			if len(s) > 3*maxMessageBytes || !utf8.ValidString(s) {
				t.Fatalf("decodeResponse kept %d bytes of text (valid UTF-8 %v)", len(s), utf8.ValidString(s))
			}
		}
		for _, it := range r.Items {
			if len(it.SubMessage) > 3*maxMessageBytes || !utf8.ValidString(it.UserID) {
				t.Fatalf("decodeResponse kept item %+v unbounded or invalid", it)
			}
		}
	})
}

// TestPacerSpacesCalls: at 20 a second, 41 calls in a row take exactly two
// seconds of the bubble's clock, the first one starting at once.
func TestPacerSpacesCalls(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(20)
		start := time.Now()
		for i := range 41 {
			if err := p.wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got, want := time.Since(start), time.Duration(i)*50*time.Millisecond; got != want {
				t.Fatalf("call %d started after %v, want %v", i, got, want)
			}
		}
	})
}

// TestPacerConcurrent: callers waiting together get distinct slots an
// interval apart.
func TestPacerConcurrent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(20)
		start := time.Now()
		starts := make(chan time.Duration, 30)
		for range 30 {
			go func() {
				if err := p.wait(t.Context()); err != nil {
					t.Error(err)
				}
				starts <- time.Since(start)
			}()
		}
		seen := map[time.Duration]bool{}
		for range 30 {
			d := <-starts
			if d%(50*time.Millisecond) != 0 || d > 29*50*time.Millisecond || seen[d] {
				t.Errorf("a call started at %v: not a free 50ms slot in the first 1.45s", d)
			}
			seen[d] = true
		}
	})
}

func TestPacerHold(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(20)
		start := time.Now()
		if err := p.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		p.hold(3 * time.Second)
		p.hold(time.Second) // a shorter hold does not shorten the first
		if err := p.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("call after hold(3s) started after %v, want 3s", got)
		}
	})
}

func TestPacerWaitHonoursContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := newPacer(1)
		if err := p.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := p.wait(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 200*time.Millisecond {
			t.Errorf("wait with a 200ms context = %v after %v, want DeadlineExceeded after 200ms", err, time.Since(start))
		}
		cancel()
		if err := p.wait(ctx); !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("wait with an ended context = %v, want its error", err)
		}
	})
}
