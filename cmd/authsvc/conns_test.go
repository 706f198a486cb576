package main

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// hangGuard bounds every network wait in these tests. It is never what a
// test measures: a healthy run finishes far inside it.
const hangGuard = 20 * time.Second

// countingListener counts the conns it handed out and not yet closed, as
// the operating system would, independently of connLimit's own books.
type countingListener struct {
	net.Listener
	mu         sync.Mutex
	open, high int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.open++
	l.high = max(l.high, l.open)
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

func (l *countingListener) counts() (open, high int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.high
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.open--
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// keepAliveHealthz opens a connection to addr, asks for /healthz on it and
// leaves it open and idle.
func keepAliveHealthz(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hangGuard)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(hangGuard))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: authsvc\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("keep-alive request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive request: status %d, close %v", resp.StatusCode, resp.Close)
	}
	return c
}

// TestIdleConnsCannotStarve: with a cap of 64, 200 idle keep-alive
// connections still leave room for a new client, the server never holds
// more than 64, and it made room by closing idle ones.
func TestIdleConnsCannotStarve(t *testing.T) {
	t.Parallel()
	const limit, idle = 64, 200
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counting := &countingListener{Listener: inner}
	conns := newConnLimit(limit)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	srv := newHTTPServer(h, slog.New(slog.DiscardHandler), time.Hour, conns)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(conns.listener(counting)) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	})
	addr := inner.Addr().String()

	clients := make([]net.Conn, idle)
	for i := range clients {
		clients[i] = keepAliveHealthz(t, addr)
		defer clients[i].Close()
	}
	// A new client is answered at once, though every conn it could have
	// had is held by an idle client.
	client := &http.Client{Timeout: hangGuard, Transport: &http.Transport{}}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("new client after %d idle ones: %v", idle, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("new client: status %d", resp.StatusCode)
	}
	// One over the cap, for the instant between accepting a conn and
	// closing the idle one it replaces.
	open, high := counting.counts()
	if high > limit+1 || open > limit {
		t.Errorf("the server held %d conns at once and %d at the end, over the cap of %d (+1 while replacing)", high, open, limit)
	}
	// Room was made by closing idle conns, not by refusing new ones. Which
	// ones is mostly but not exactly the oldest: a conn whose server side
	// has not yet marked it idle (on a loaded machine, a while after its
	// client read the response) is busy, so a younger one goes instead.
	conns.mu.Lock()
	evicted, countedHigh := conns.evicted, conns.high
	conns.mu.Unlock()
	if evicted < idle+1-limit {
		t.Errorf("%d idle conns closed to make room, want at least %d", evicted, idle+1-limit)
	}
	if countedHigh > limit {
		t.Errorf("connLimit counted %d conns at once, over the cap of %d", countedHigh, limit)
	}
	// The very oldest client was long idle when room was first needed.
	clients[0].SetReadDeadline(time.Now().Add(hangGuard))
	var b [1]byte
	if _, err := clients[0].Read(b[:]); err == nil || isTimeout(err) {
		t.Errorf("the oldest idle client is still connected: %v", err)
	}
}

// TestNewConnSurvivesBusyConns: with all but one conn in a request (here,
// bodies that never finish), a new client is answered. It used to be
// closed at once: room for the next conn was made before any client came,
// by closing the quietest conn, which was the one just accepted.
func TestNewConnSurvivesBusyConns(t *testing.T) {
	t.Parallel()
	const limit = 5
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := newConnLimit(limit)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			io.Copy(io.Discard, r.Body) // waits for a body that never comes
		}
		io.WriteString(w, "ok")
	})
	srv := newHTTPServer(h, slog.New(slog.DiscardHandler), time.Hour, conns)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(conns.listener(inner)) }()
	addr := inner.Addr().String()
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
		srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	})
	for range limit - 1 {
		c, err := net.DialTimeout("tcp", addr, hangGuard)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if _, err := io.WriteString(c, "POST /slow HTTP/1.1\r\nHost: authsvc\r\nContent-Length: 1000\r\n\r\nx"); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the server has seen every slow request start.
	deadline := time.Now().Add(hangGuard)
	for {
		conns.mu.Lock()
		busy := conns.open - conns.quiet.Len()
		conns.mu.Unlock()
		if busy >= limit-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d slow requests started", busy, limit-1)
		}
		runtime.Gosched()
	}
	// A probe that connects and, like a slow client, has not yet sent its
	// request: it is quiet, but it is the newest conn, not an idle one.
	probe, err := net.DialTimeout("tcp", addr, hangGuard)
	if err != nil {
		t.Fatal(err)
	}
	held = append(held, probe)
	for {
		conns.mu.Lock()
		tracked, evicted := len(conns.conns), conns.evicted
		conns.mu.Unlock()
		if tracked == limit || evicted > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe was not accepted: %d conns tracked", tracked)
		}
		runtime.Gosched()
	}
	probe.SetDeadline(time.Now().Add(hangGuard))
	if _, err := io.WriteString(probe, "GET /healthz HTTP/1.1\r\nHost: authsvc\r\n\r\n"); err != nil {
		t.Fatalf("probe with %d conns busy: %v", limit-1, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(probe), nil)
	if err != nil {
		t.Fatalf("probe with %d conns busy: %v", limit-1, err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("probe: status %d", resp.StatusCode)
	}
	conns.mu.Lock()
	defer conns.mu.Unlock()
	if conns.evicted != 0 {
		t.Errorf("%d conns closed to make room, with the cap never reached by a newcomer", conns.evicted)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestConnLimitWaitsForBusyConns: when every conn is in a request, Accept
// waits rather than closing one, and goes on when one closes or turns idle;
// closing the listener ends the wait.
func TestConnLimitWaitsForBusyConns(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		conns := newConnLimit(1)
		busy := &net.TCPConn{} // stands for an accepted conn; only its identity counts
		if err := conns.reserve(nil); err != nil {
			t.Fatal(err)
		}
		conns.track(busy)
		conns.connState(busy, http.StateNew)
		conns.connState(busy, http.StateActive)

		for _, next := range []http.ConnState{http.StateIdle, http.StateClosed} {
			got := make(chan error, 1)
			go func() { got <- conns.reserve(nil) }()
			synctest.Wait()
			select {
			case err := <-got:
				t.Fatalf("reserve with every conn busy returned %v, want it to wait", err)
			default:
			}
			conns.connState(busy, next)
			synctest.Wait()
			select {
			case err := <-got:
				if err != nil {
					t.Fatalf("reserve after the busy conn turned %v = %v", next, err)
				}
			default:
				t.Fatalf("reserve still waits after the busy conn turned %v", next)
			}
			// Leave one busy conn again for the next round.
			busy = &net.TCPConn{}
			conns.track(busy)
			conns.connState(busy, http.StateNew)
			conns.connState(busy, http.StateActive)
		}
		if conns.evicted != 1 {
			t.Errorf("%d conns evicted, want 1 (the idle one)", conns.evicted)
		}

		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := conns.listener(inner).(*limitedListener)
		waiting := make(chan error, 1)
		go func() { waiting <- ln.limit.reserve(ln.done) }()
		synctest.Wait()
		ln.Close()
		if err := <-waiting; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("reserve on a closed listener = %v, want net.ErrClosed", err)
		}
	})
}

// BenchmarkConnState is what connLimit costs each keep-alive request: its
// conn turns active, then idle again, among 64 open conns.
//
//	go test -run '^$' -bench ConnState -benchmem ./cmd/authsvc/
func BenchmarkConnState(b *testing.B) {
	conns := newConnLimit(1024)
	open := make([]net.Conn, 64)
	for i := range open {
		open[i] = &net.TCPConn{} // stands for an accepted conn; only its identity counts
		if err := conns.reserve(nil); err != nil {
			b.Fatal(err)
		}
		conns.track(open[i])
		conns.connState(open[i], http.StateNew)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := open[i%len(open)]
		conns.connState(c, http.StateActive)
		conns.connState(c, http.StateIdle)
		i++
	}
}
