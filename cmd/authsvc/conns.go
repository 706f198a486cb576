package main

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// fdHeadroom is how many file descriptors the default connection cap leaves
// for everything else: the SQLite files (up to three per pooled connection),
// the log, JWKS fetches, the listeners themselves.
const fdHeadroom = 256

// defaultMaxConns derives the connection cap from the process's limit on
// open files, so that idle clients cannot use up the descriptors the
// database and new clients need.
func defaultMaxConns() int {
	n := maxOpenFiles()
	return max(n-fdHeadroom, n/2, 1)
}

// connLimit caps the connections the HTTP servers hold open. At the cap, a
// new connection takes the place of the one that has been quiet longest
// (idle between keep-alive requests, or not yet through its first headers)
// instead of being refused, so keep-alive clients that merely sit on their
// connections cannot lock new clients out. Only when every connection is in
// the middle of a request does Accept wait, and the servers' read and write
// timeouts bound that wait.
//
// One client (see clientOf) may also hold at most perClient connections:
// else a client keeping its connections busy past their headers (a body
// sent slowly, an answer read slowly, each for up to the servers' read or
// write timeout) could take every place under the cap, since only quiet
// connections make room. (A client sending its headers slowly is no such
// threat: net/http reports a connection active only once its headers are
// read, so until then it is quiet, and makes room.) At its own cap a
// client's new connection takes the place of that client's longest idle
// one, or, when none is idle, is closed at once, so that Accept never
// waits on one client. A connection not yet active is never closed for
// its own client's sake: it may hold a request not read yet, and closing
// it would only make the client dial again. Trusted proxies carry many
// clients and are not capped.
//
// Every listener passed through listener must be served by an http.Server
// whose ConnState is connState; several servers may share one connLimit.
type connLimit struct {
	max       int
	perClient int            // 0: no cap per client
	proxies   []netip.Prefix // not capped
	v6Bits    int            // an IPv6 client is its prefix of this many bits

	mu      sync.Mutex
	open    int                         // accepted, not yet closed or evicted
	conns   map[net.Conn]*tracked       // every open conn
	clients map[netip.Addr]*clientConns // the capped clients with open conns
	quiet   queue                       // quiet conns, longest quiet first
	changed chan struct{}               // made by an Accept waiting for room, closed when a conn closes or turns quiet; nil when none waits
	high    int                         // the most conns open at once, for tests
	// Conns closed: the longest quiet to make room under max, a client's
	// longest idle at its cap, a newcomer at its client's cap with none
	// idle. Counted for authsvc_conns_closed_total (Collect).
	evicted, clientEvicted, refused int
	closedDesc                      *prometheus.Desc
}

// tracked is an open conn's place in the books, made once per conn: both
// queues (quiet conns, a client's idle ones) link through it, so that a
// keep-alive request turning active and idle again allocates nothing.
type tracked struct {
	conn   net.Conn
	client *clientConns // nil when not capped
	all    link         // in connLimit.quiet while new or idle
	mine   link         // in client.idle while idle
}

// link is a tracked conn's place in one queue.
type link struct {
	prev, next *tracked
	in         bool
}

// queue is a first-in first-out list of tracked conns, linked through the
// link that at returns.
type queue struct {
	head, tail *tracked
	n          int
	at         func(*tracked) *link
}

func (q *queue) len() int { return q.n }

func (q *queue) pushBack(t *tracked) {
	q.remove(t) // never twice
	l := q.at(t)
	*l = link{prev: q.tail, in: true}
	if q.tail != nil {
		q.at(q.tail).next = t
	} else {
		q.head = t
	}
	q.tail = t
	q.n++
}

func (q *queue) remove(t *tracked) {
	l := q.at(t)
	if !l.in {
		return
	}
	if l.prev != nil {
		q.at(l.prev).next = l.next
	} else {
		q.head = l.next
	}
	if l.next != nil {
		q.at(l.next).prev = l.prev
	} else {
		q.tail = l.prev
	}
	*l = link{}
	q.n--
}

func allLink(t *tracked) *link  { return &t.all }
func mineLink(t *tracked) *link { return &t.mine }

// clientConns are the open conns of one capped client.
type clientConns struct {
	addr netip.Addr
	open int   // admitted, not yet closed or evicted
	idle queue // its idle conns, longest idle first
}

func newConnLimit(max int) *connLimit {
	return &connLimit{max: max, conns: make(map[net.Conn]*tracked), clients: make(map[netip.Addr]*clientConns),
		quiet: queue{at: allLink},
		closedDesc: prometheus.NewDesc("authsvc_conns_closed_total",
			"Connections closed to keep within the caps, by reason: room (the longest quiet, at the connection cap), "+
				"client_room (a client's longest idle, at its cap), client_refused (a new one, at its client's cap with none idle).",
			[]string{"reason"}, nil)}
}

// Describe and Collect make connLimit a Prometheus collector of
// authsvc_conns_closed_total.
func (c *connLimit) Describe(ch chan<- *prometheus.Desc) { ch <- c.closedDesc }

func (c *connLimit) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	counts := [...]int{c.evicted, c.clientEvicted, c.refused}
	c.mu.Unlock()
	for i, reason := range [...]string{"room", "client_room", "client_refused"} {
		ch <- prometheus.MustNewConstMetric(c.closedDesc, prometheus.CounterValue, float64(counts[i]), reason)
	}
}

// listener wraps ln so that its Accept keeps within the cap.
func (c *connLimit) listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, limit: c, done: make(chan struct{})}
}

// capClients caps the conns of one client at n (0: no cap), an IPv6 client
// being its prefix of v6Bits bits, and trusted proxies exempt.
func (c *connLimit) capClients(n, v6Bits int, proxies []netip.Prefix) {
	c.perClient, c.v6Bits, c.proxies = n, v6Bits, proxies
}

// clientOf returns the client a conn from addr counts against, and false
// when it is not capped: no cap, a trusted proxy, or not an IP peer.
func (c *connLimit) clientOf(addr net.Addr) (netip.Addr, bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if c.perClient <= 0 || !ok {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	for _, p := range c.proxies {
		if p.Contains(ip) {
			return netip.Addr{}, false
		}
	}
	if ip.Is6() {
		ip = netip.PrefixFrom(ip, c.v6Bits).Masked().Addr()
	}
	return ip, true
}

// connState follows each conn through its states: a conn is quiet when
// new or idle, busy when active, and gone when closed or hijacked.
func (c *connLimit) connState(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.conns[conn]
	if !ok {
		return // evicted already
	}
	c.unquietLocked(t)
	switch state {
	case http.StateNew, http.StateIdle:
		c.quiet.pushBack(t)
		if t.client != nil && state == http.StateIdle {
			t.client.idle.pushBack(t)
		}
		c.signal()
	case http.StateClosed, http.StateHijacked:
		c.forgetLocked(t)
		c.signal()
	}
}

// unquietLocked takes t out of the queues. Must be called with c.mu
// held.
func (c *connLimit) unquietLocked(t *tracked) {
	c.quiet.remove(t)
	if t.client != nil {
		t.client.idle.remove(t)
	}
}

// forgetLocked drops t from the books. Must be called with c.mu held.
func (c *connLimit) forgetLocked(t *tracked) {
	c.unquietLocked(t)
	delete(c.conns, t.conn)
	c.open--
	if t.client != nil {
		c.releaseLocked(t.client)
	}
}

// releaseLocked gives back a place of client. Must be called with c.mu
// held.
func (c *connLimit) releaseLocked(client *clientConns) {
	if client.open--; client.open == 0 {
		delete(c.clients, client.addr)
	}
}

// signal wakes every Accept waiting for room. Must be called with c.mu held.
// Without one waiting it does nothing: a channel made and closed for every
// keep-alive request that turns idle was most of connState's cost.
func (c *connLimit) signal() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// admit takes a place for conn among its client's, closing that client's
// longest idle conn when at its cap. It returns the client (nil when not
// capped), and false when none of the client's conns is idle.
func (c *connLimit) admit(conn net.Conn) (*clientConns, bool) {
	addr, capped := c.clientOf(conn.RemoteAddr())
	if !capped {
		return nil, true
	}
	c.mu.Lock()
	client := c.clients[addr]
	if client == nil {
		client = &clientConns{addr: addr, idle: queue{at: mineLink}}
		c.clients[addr] = client
	}
	var victim net.Conn
	if client.open >= c.perClient {
		front := client.idle.head
		if front == nil {
			c.refused++
			c.mu.Unlock()
			return nil, false
		}
		victim = front.conn
		c.forgetLocked(front) // which may drop the client from c.clients
		c.clientEvicted++
	}
	client.open++
	c.clients[addr] = client
	c.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
	return client, true
}

// reserve takes room for one more conn, closing the longest quiet one when
// at the cap, or waiting until a conn closes or turns quiet. It returns
// net.ErrClosed once done is closed.
func (c *connLimit) reserve(done <-chan struct{}) error {
	for {
		c.mu.Lock()
		if c.open < c.max {
			c.open++
			c.high = max(c.high, c.open)
			c.mu.Unlock()
			return nil
		}
		if victim := c.evictLocked(); victim != nil {
			c.open++ // the victim's room, taken over at once
			c.mu.Unlock()
			victim.Close()
			return nil
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-done:
			return net.ErrClosed
		}
	}
}

// evictLocked forgets the longest quiet conn and returns it for closing, or
// nil if none is quiet. Must be called with c.mu held.
func (c *connLimit) evictLocked() net.Conn {
	front := c.quiet.head
	if front == nil {
		return nil
	}
	c.forgetLocked(front)
	c.evicted++
	return front.conn
}

// track books conn, admitted for client (nil when not capped), as open:
// quiet from StateNew on, which the server reports next.
func (c *connLimit) track(conn net.Conn, client *clientConns) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns[conn] = &tracked{conn: conn, client: client}
}

type limitedListener struct {
	net.Listener
	limit *connLimit
	once  sync.Once
	done  chan struct{}
}

func (l *limitedListener) Accept() (net.Conn, error) {
	// Accept first, then make room: room made before a client arrives
	// would go to waste, and worse, the next Accept would make it by
	// closing the conn just accepted, which is still quiet (StateNew).
	// So the server holds at most max+1 conns, for the instant between
	// this Accept and the victim's Close.
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors all the same (a cap set too high): free one,
				// so the server's retry can succeed.
				l.limit.mu.Lock()
				victim := l.limit.evictLocked()
				l.limit.mu.Unlock()
				if victim != nil {
					victim.Close()
				}
			}
			return nil, err
		}
		client, ok := l.limit.admit(conn)
		if !ok {
			conn.Close() // a client at its cap with none idle: on to the next one
			continue
		}
		if err := l.limit.reserve(l.done); err != nil {
			if client != nil {
				l.limit.mu.Lock()
				l.limit.releaseLocked(client)
				l.limit.mu.Unlock()
			}
			conn.Close()
			return nil, err
		}
		l.limit.track(conn, client)
		return conn, nil
	}
}

func (l *limitedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}
