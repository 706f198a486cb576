package httpapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
)

type ctxKey int

const requestKey ctxKey = 0

// requestInfo is what the middleware learns about a request. observe
// creates it; requireAuth fills in the principal. It is the request's
// context too, holding chi's routing state as well: one allocation where a
// context copy for it and two for chi's routing context were three.
type requestInfo struct {
	context.Context // the request's context before observe

	route *chi.Context // what chi.RouteContext returns, from routeContexts

	id       string
	idHeader [1]string // the X-Request-Id header's value slice, without its own allocation
	ip       netip.Addr
	ipText   string // ip.String(), once it is needed
	sw       statusWriter

	authed bool
	p      principal // the caller, once authed
}

// Value answers for requestKey and chi's routing context; other keys go
// to the request's context before observe.
func (info *requestInfo) Value(key any) any {
	switch key {
	case requestKey:
		return info
	case chi.RouteCtxKey:
		return info.route
	}
	return info.Context.Value(key)
}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestKey).(*requestInfo)
	return info
}

func requestID(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

func clientIP(ctx context.Context) netip.Addr {
	if info := infoFrom(ctx); info != nil {
		return info.ip
	}
	return netip.Addr{}
}

// clientIPText is clientIP as text, formatted once per request for the
// access log and the audit trail.
func clientIPText(ctx context.Context) string {
	info := infoFrom(ctx)
	if info == nil {
		return netip.Addr{}.String()
	}
	if info.ipText == "" {
		info.ipText = info.ip.String()
	}
	return info.ipText
}

// requestIDs hands out request IDs: a random per-process prefix and a
// counter, unique across restarts and cheap on the hot path.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

func (g *requestIDs) next() string {
	var buf [32]byte // prefix, '-' and a uint64 fit: one allocation, the string
	b := append(buf[:0], g.prefix...)
	b = append(b, '-')
	return string(strconv.AppendUint(b, g.n.Add(1), 10))
}

// validRequestID accepts a caller's X-Request-ID only when it is short and
// plain, so it cannot forge or break log lines.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// statusWriter records what a handler wrote, for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// observe wraps the router mux as the outermost middleware: it assigns the
// request ID, finds the client IP, recovers panics into 500s, and records
// every request in the access log and the metrics, labelled by route
// pattern (never the raw path, which would let clients create unbounded
// label values). The routing context it gives the request is mux's: a mux
// that finds one in the request's context routes with it and makes none.
//
// The header names are written in canonical form ("X-Request-Id", as
// net/http sends it anyway), which spares a canonicalizing copy each.
func (s *Server) observe(ids *requestIDs, mux *chi.Mux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := routeContexts.Get().(*chi.Context)
		route.Reset()
		route.Routes = mux
		info := &requestInfo{Context: r.Context(), route: route, id: r.Header.Get("X-Request-Id")}
		if !validRequestID(info.id) {
			info.id = ids.next()
		}
		info.idHeader[0] = info.id
		w.Header()["X-Request-Id"] = info.idHeader[:]
		info.ip = s.clientIPOf(r)
		info.sw.ResponseWriter = w
		r = r.WithContext(info)
		defer s.finish(r, info, start)
		mux.ServeHTTP(&info.sw, r)
	})
}

// routeContexts recycles the routing contexts of finished requests, as
// chi's Mux does its own: each is 232 bytes, which were 7% of what a token
// request allocated, counting net/http's share.
var routeContexts = sync.Pool{New: func() any { return chi.NewRouteContext() }}

// finish is observe's deferred half: it turns a panic into a 500 and
// records the request in the metrics and the access log.
func (s *Server) finish(r *http.Request, info *requestInfo, start time.Time) {
	ctx, sw := r.Context(), &info.sw
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			panic(v)
		}
		s.log.LogAttrs(ctx, slog.LevelError, "panic serving request",
			slog.String("request_id", info.id), slog.String("panic", fmt.Sprint(v)),
			slog.String("stack", string(debug.Stack())))
		if sw.status == 0 {
			s.writeError(sw, r, errors.New("panic"))
		}
	}
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	route := s.routeOf(r)
	elapsed := time.Since(start)
	s.metrics.observeRequest(route, r.Method, status, elapsed)
	level := slog.LevelInfo
	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		level = slog.LevelDebug
	}
	if s.log.Enabled(ctx, level) {
		s.logRequest(ctx, level, &accessLine{
			requestID:  info.id,
			method:     logMethod(r.Method),
			route:      route,
			status:     status,
			bytes:      sw.bytes,
			durationUS: elapsed.Microseconds(),
			clientIP:   clientIPText(ctx),
		})
	}
	routeContexts.Put(info.route)
}

// routeOf names the route pattern that served r, for metrics and logs. A
// CORS preflight, answered before routing, is named by the route it asks
// about. Anything else that matched no route is "unmatched".
func (s *Server) routeOf(r *http.Request) string {
	if route := chi.RouteContext(r.Context()).RoutePattern(); route != "" {
		return route
	}
	if m := r.Header.Get("Access-Control-Request-Method"); r.Method == http.MethodOptions && m != "" && s.mux != nil {
		if route := s.mux.Find(chi.NewRouteContext(), m, r.URL.Path); route != "" {
			return route
		}
	}
	return "unmatched"
}

// maxLogMethod bounds the method echoed in the access log: any token is a
// valid method on the wire, up to the header size limit.
const maxLogMethod = 16

// logMethod is the method as the access log shows it: standard methods as
// they are, others cut to maxLogMethod bytes and marked when cut.
func logMethod(m string) string {
	if len(m) > maxLogMethod {
		return m[:maxLogMethod] + "..."
	}
	return m
}

// clientIPOf is the client's address for logs and the audit trail; see
// clientOf.
func (s *Server) clientIPOf(r *http.Request) netip.Addr {
	ip, _ := s.clientOf(r)
	return ip
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// limitBody caps the request body; reading past n fails with
// *http.MaxBytesError, which writeError turns into a 413.
func limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body != http.NoBody { // net/http's empty body: nothing to limit
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}
