package main

import (
	"container/list"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
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
// (idle between keep-alive requests, or accepted and not yet sent a byte)
// instead of being refused, so keep-alive clients that merely sit on their
// connections cannot lock new clients out. Only when every connection is in
// the middle of a request does Accept wait, and the servers' read and write
// timeouts bound that wait.
//
// Every listener passed through listener must be served by an http.Server
// whose ConnState is connState; several servers may share one connLimit.
type connLimit struct {
	max int

	mu      sync.Mutex
	open    int                        // accepted, not yet closed or evicted
	conns   map[net.Conn]*list.Element // every open conn; the element is in quiet, or nil
	quiet   list.List                  // quiet conns, longest quiet first
	changed chan struct{}              // made by an Accept waiting for room, closed when a conn closes or turns quiet; nil when none waits
	high    int                        // the most conns open at once, for tests
	evicted int                        // conns closed to make room, for tests
}

func newConnLimit(max int) *connLimit {
	return &connLimit{max: max, conns: make(map[net.Conn]*list.Element)}
}

// listener wraps ln so that its Accept keeps within the cap.
func (c *connLimit) listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, limit: c, done: make(chan struct{})}
}

// connState follows each conn through its states: a conn is quiet when
// new or idle, busy when active, and gone when closed or hijacked.
func (c *connLimit) connState(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.conns[conn]
	if !ok {
		return // evicted already
	}
	if el != nil {
		c.quiet.Remove(el)
		c.conns[conn] = nil
	}
	switch state {
	case http.StateNew, http.StateIdle:
		c.conns[conn] = c.quiet.PushBack(conn)
		c.signal()
	case http.StateClosed, http.StateHijacked:
		delete(c.conns, conn)
		c.open--
		c.signal()
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
	front := c.quiet.Front()
	if front == nil {
		return nil
	}
	conn := c.quiet.Remove(front).(net.Conn)
	delete(c.conns, conn)
	c.open--
	c.evicted++
	return conn
}

func (c *connLimit) track(conn net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conns[conn] = nil // quiet from StateNew on, which the server reports next
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
	if err := l.limit.reserve(l.done); err != nil {
		conn.Close()
		return nil, err
	}
	l.limit.track(conn)
	return conn, nil
}

func (l *limitedListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}
