package main

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
		busy := conns.open - conns.quiet.len()
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
		conns.track(busy, nil)
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
			conns.track(busy, nil)
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
// conn turns active, then idle again, among 64 open conns of four clients.
//
//	go test -run '^$' -bench ConnState -benchmem ./cmd/authsvc/
func BenchmarkConnState(b *testing.B) {
	conns := newConnLimit(1024)
	conns.capClients(1000, 64, nil) // as serve does by default
	open := make([]net.Conn, 64)
	for i := range open {
		open[i] = &peerConn{peer: &net.TCPAddr{IP: net.IPv4(192, 0, 2, byte(i%4)), Port: 40000 + i}}
		client, ok := conns.admit(open[i])
		if !ok {
			b.Fatal("refused")
		}
		if err := conns.reserve(nil); err != nil {
			b.Fatal(err)
		}
		conns.track(open[i], client)
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

// peerConn stands for an accepted conn from peer; only its identity and
// address count.
type peerConn struct {
	net.Conn
	peer   *net.TCPAddr
	closed atomic.Bool
}

func (c *peerConn) RemoteAddr() net.Addr { return c.peer }
func (c *peerConn) Close() error         { c.closed.Store(true); return nil }

func peer(t *testing.T, ip string) *peerConn {
	t.Helper()
	return &peerConn{peer: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}}
}

// TestConnLimitPerClient: a client holds at most perClient conns, an IPv6
// client counted by its prefix, a trusted proxy without a cap; at its cap
// its longest quiet conn makes room, and with none quiet the new one is
// refused; a conn that closes, is hijacked or is evicted gives its client's
// place back.
func TestConnLimitPerClient(t *testing.T) {
	t.Parallel()
	conns := newConnLimit(100)
	conns.capClients(2, 64, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	// accept admits c as Accept does and makes it busy, reporting whether
	// it was admitted.
	accept := func(c net.Conn) bool {
		t.Helper()
		client, ok := conns.admit(c)
		if !ok {
			return false
		}
		if err := conns.reserve(nil); err != nil {
			t.Fatal(err)
		}
		conns.track(c, client)
		conns.connState(c, http.StateNew)
		conns.connState(c, http.StateActive)
		return true
	}
	counted := func(ip string) int {
		conns.mu.Lock()
		defer conns.mu.Unlock()
		if cc := conns.clients[netip.MustParseAddr(ip)]; cc != nil {
			return cc.open
		}
		return 0
	}
	a1, a2, a3 := peer(t, "192.0.2.1"), peer(t, "192.0.2.1"), peer(t, "192.0.2.1")
	for _, c := range []net.Conn{a1, a2} {
		if !accept(c) {
			t.Fatal("a client's first two conns refused")
		}
	}
	if accept(a3) {
		t.Error("a client's third conn admitted while its two are busy")
	}
	if !accept(peer(t, "::ffff:192.0.2.2")) {
		t.Error("another client's conn refused")
	}
	v6 := []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"}
	for i, ip := range v6 {
		if got := accept(peer(t, ip)); got != (i < 2) {
			t.Errorf("conn %d from the IPv6 /64 admitted = %v", i+1, got)
		}
	}
	if !accept(peer(t, "2001:db8:1:3::1")) {
		t.Error("a conn from the next /64 refused")
	}
	for range 5 {
		if !accept(peer(t, "10.1.2.3")) {
			t.Fatal("a trusted proxy's conn refused")
		}
	}
	if conns.refused != 2 || conns.evicted != 0 {
		t.Errorf("refused %d conns and evicted %d, want 2 and 0", conns.refused, conns.evicted)
	}

	conns.connState(a1, http.StateClosed)
	if !accept(a3) {
		t.Error("after one of its conns closed, the client's next one refused")
	}
	conns.connState(a2, http.StateHijacked)
	a4 := peer(t, "192.0.2.1")
	if !accept(a4) {
		t.Error("after one of its conns was hijacked, the client's next one refused")
	}
	// a3 and a4 hold the client's places. Once a3 is idle, a new conn of
	// the client takes its place, and a4's, once idle, goes to the cap's
	// eviction.
	conns.connState(a3, http.StateIdle)
	a5 := peer(t, "192.0.2.1")
	if !accept(a5) {
		t.Fatal("at its cap with a quiet conn, the client's next one refused")
	}
	conns.mu.Lock()
	_, kept := conns.conns[a3]
	conns.mu.Unlock()
	if kept || !a3.closed.Load() || conns.clientEvicted != 1 {
		t.Errorf("a3 still booked %v, closed %v, %d evicted for their client; want it evicted", kept, a3.closed.Load(), conns.clientEvicted)
	}
	conns.connState(a3, http.StateClosed) // as the server reports it after the Close: a no-op
	conns.connState(a4, http.StateIdle)
	conns.mu.Lock()
	// The other quiet conns are none: a4 is the longest quiet.
	if victim := conns.evictLocked(); victim != a4 {
		t.Errorf("evicted %v, want a4", victim)
	}
	conns.mu.Unlock()
	if n := counted("192.0.2.1"); n != 1 {
		t.Errorf("the client is counted for %d conns, want 1 (a5)", n)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(conns)
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{"authsvc_conns_closed_total/room": 1, "authsvc_conns_closed_total/client_room": 1,
		"authsvc_conns_closed_total/client_refused": 2}
	if !maps.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	conns.connState(a5, http.StateClosed)
	if n := counted("192.0.2.1"); n != 0 || len(conns.clients) != 3 {
		t.Errorf("after its last conn closed the client is counted for %d, %d clients booked; want 0 and 3", n, len(conns.clients))
	}
}

// TestConnLimitOneConnPerClient: at a cap of one, a client's new conn is
// refused while its one conn is new (it may hold a request not read yet)
// or busy, and takes its place once that one is idle.
func TestConnLimitOneConnPerClient(t *testing.T) {
	t.Parallel()
	conns := newConnLimit(100)
	conns.capClients(1, 64, nil)
	accept := func() (*peerConn, bool) {
		t.Helper()
		c := peer(t, "192.0.2.1")
		client, ok := conns.admit(c)
		if !ok {
			return c, false
		}
		if err := conns.reserve(nil); err != nil {
			t.Fatal(err)
		}
		conns.track(c, client)
		conns.connState(c, http.StateNew)
		return c, true
	}
	first, ok := accept()
	if !ok {
		t.Fatal("the first conn refused")
	}
	if _, ok := accept(); ok {
		t.Error("a second conn admitted while the first is new")
	}
	conns.connState(first, http.StateActive)
	if _, ok := accept(); ok {
		t.Error("a second conn admitted while the first is busy")
	}
	conns.connState(first, http.StateIdle)
	second, ok := accept()
	if !ok {
		t.Fatal("a second conn refused while the first is idle")
	}
	if !first.closed.Load() || second.closed.Load() {
		t.Errorf("closed: first %v, second %v; want only the first", first.closed.Load(), second.closed.Load())
	}
	conns.mu.Lock()
	defer conns.mu.Unlock()
	if cc := conns.clients[netip.MustParseAddr("192.0.2.1")]; cc == nil || cc.open != 1 || conns.open != 1 || conns.refused != 2 {
		t.Errorf("the client is booked as %+v, %d conns open, %d refused; want one conn, two refused", cc, conns.open, conns.refused)
	}
}

// TestConnLimitClosedWhileWaiting: a conn admitted for its client, then
// waiting for room when the listener closes, gives its client's place
// back.
func TestConnLimitClosedWhileWaiting(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		conns := newConnLimit(1)
		conns.capClients(5, 64, nil)
		busy := &net.TCPConn{} // holds the one place, in a request
		if err := conns.reserve(nil); err != nil {
			t.Fatal(err)
		}
		conns.track(busy, nil)
		conns.connState(busy, http.StateActive)
		inner, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln := conns.listener(inner)
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		accepted := make(chan error, 1)
		go func() {
			_, err := ln.Accept()
			accepted <- err
		}()
		synctest.Wait() // Accept has admitted the conn and waits for room
		if n := len(conns.clients); n != 1 {
			t.Fatalf("%d clients booked while Accept waits, want 1", n)
		}
		ln.Close()
		if err := <-accepted; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept = %v, want net.ErrClosed", err)
		}
		if n := len(conns.clients); n != 0 {
			t.Errorf("%d clients still booked after the wait ended", n)
		}
	})
}

// TestConnLimitPerClientServes: through a real server, a client whose one
// place is taken by a request in progress has its next conn closed
// unanswered, while another client is served.
func TestConnLimitPerClientServes(t *testing.T) {
	t.Parallel()
	conns := newConnLimit(100)
	conns.capClients(1, 64, nil)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(entered)
			<-release
		}
	}), slog.New(slog.DiscardHandler), time.Minute, conns)
	go srv.Serve(conns.listener(inner))
	t.Cleanup(func() { srv.Close() })
	defer close(release)
	addr := inner.Addr().String()

	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: hangGuard}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			if from != "127.0.0.1" {
				t.Skipf("cannot dial from %s (loopback beyond 127.0.0.1 is Linux's): %v", from, err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(hangGuard))
		return c
	}
	first := dial("127.0.0.1")
	if _, err := io.WriteString(first, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(hangGuard):
		t.Fatal("the first request never reached the handler")
	}
	other := dial("127.0.0.2")
	if _, err := io.WriteString(other, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(bufio.NewReader(other), nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("another client's request: %v, %v", resp, err)
	}
	second := dial("127.0.0.1")
	io.WriteString(second, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // may fail: the conn is closed
	if n, err := second.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
		t.Errorf("the capped client's second conn read %d bytes, %v; want it closed", n, err)
	}
}
