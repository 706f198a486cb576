package httpapi

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"authsvc/internal/apps"
	"authsvc/internal/audit"
	"authsvc/internal/token"
	"authsvc/internal/users"
)

// metrics are the server's Prometheus collectors. Labels take values from
// small fixed sets only, whatever a client sends: route patterns or
// "unmatched", the standard methods or "other", status codes the server
// chose, configured app IDs, token variants and failure reasons that are
// constants. Each label has one setter below that enforces its set, since a
// series, once created, lives as long as the process.
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	tokensIssued  *prometheus.CounterVec
	tokenFailures *prometheus.CounterVec
	rateLimited   *prometheus.CounterVec
	zimVerdicts   *prometheus.CounterVec // before_send_msg answers, by verdictSend etc.

	mu      sync.Mutex
	reasons map[string]bool // failure reasons seen, at most maxReasons

	// The series each request and each minted token lands in, resolved
	// once: WithLabelValues hashes its labels and formats none of our
	// numbers for free, on every request. Both maps hold at most
	// maxCachedSeries entries; past that the vectors are asked directly.
	seriesMu sync.RWMutex
	requestS map[requestSeriesKey]requestSeries
	issuedS  map[issuedSeriesKey]prometheus.Counter
}

// maxCachedSeries bounds each series cache. Its keys come from small fixed
// sets (see metrics), so the bound is only a guard.
const maxCachedSeries = 1024

type requestSeriesKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

type issuedSeriesKey struct {
	app     uint32
	kind    string
	variant token.Variant
}

// maxReasons caps the distinct failure reasons. Reasons are constants, so
// the cap is never reached unless a future change passes something else;
// then the excess is counted as "other" instead of growing the registry.
const maxReasons = 64

// labelOther stands for any value outside a label's fixed set.
const labelOther = "other"

func newMetrics(reg *prometheus.Registry, store *users.Store, rec *audit.Recorder, replays *replayCache, version string) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authsvc_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_tokens_issued_total",
			Help: "Token04 credentials minted, by app, kind (issue or renew) and variant.",
		}, []string{"app_id", "kind", "variant"}),
		tokenFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_token_failures_total",
			Help: "Token requests, renewals and verifications that failed, by reason.",
		}, []string{"reason"}),
		reasons:  make(map[string]bool),
		requestS: make(map[requestSeriesKey]requestSeries),
		issuedS:  make(map[issuedSeriesKey]prometheus.Counter),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authsvc_rate_limited_total",
			Help: "Requests refused by a rate limit, by limit: token, login_ip or login_user.",
		}, []string{"limit"}),
	}
	for _, l := range []string{limitToken, limitLoginIP, limitLoginUser} {
		m.rateLimited.WithLabelValues(l) // exported at 0 from the start
	}
	m.zimVerdicts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authsvc_zim_messages_total",
		Help: "ZIM before_send_msg callbacks answered, by verdict: send, blocked_disabled or blocked_unknown.",
	}, []string{"verdict"})
	for _, v := range []string{verdictSend, verdictDisabled, verdictUnknown} {
		m.zimVerdicts.WithLabelValues(v)
	}
	nonces := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authsvc_zim_callback_nonces",
		Help: "ZIM callbacks remembered to refuse their replay (at most 500,000).",
	}, func() float64 { return float64(replays.len()) })
	usersGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authsvc_users",
		Help: "Users in the registry.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := store.Count(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "authsvc_build_info",
		Help: "Always 1; labels tell the running version.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	collectors := []prometheus.Collector{m.requests, m.duration, m.tokensIssued, m.tokenFailures, m.rateLimited, m.zimVerdicts, nonces,
		usersGauge, buildInfo}
	if rec != nil {
		for _, c := range []struct {
			result string
			value  func(audit.Stats) uint64
		}{
			{"written", func(s audit.Stats) uint64 { return s.Written }},
			{"dropped", func(s audit.Stats) uint64 { return s.Dropped }},
			{"failed", func(s audit.Stats) uint64 { return s.Failed }},
		} {
			collectors = append(collectors, prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "authsvc_audit_events_total",
				Help:        "Audit events by what became of them: written, dropped (never written) or failed (write error).",
				ConstLabels: prometheus.Labels{"result": c.result},
			}, func() float64 { return float64(c.value(rec.Stats())) }))
		}
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authsvc_audit_queue",
			Help: "Audit events waiting to be written: queued, or taken by the writer and not yet written.",
		}, func() float64 { return float64(rec.Stats().Queued) }))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observeRequest counts a request. route must be a pattern of the router or
// "unmatched"; the method is reduced to methodLabel's set here.
func (m *metrics) observeRequest(route, method string, status int, d time.Duration) {
	key := requestSeriesKey{route, methodLabel(method), status}
	m.seriesMu.RLock()
	series, ok := m.requestS[key]
	m.seriesMu.RUnlock()
	if !ok {
		code := strconv.Itoa(status)
		series = requestSeries{
			count:    m.requests.WithLabelValues(key.route, key.method, code),
			duration: m.duration.WithLabelValues(key.route, key.method, code),
		}
		m.seriesMu.Lock()
		if len(m.requestS) < maxCachedSeries {
			m.requestS[key] = series
		}
		m.seriesMu.Unlock()
	}
	series.count.Inc()
	series.duration.Observe(d.Seconds())
}

// tokenIssued counts a minted token. It takes the *App the token was minted
// with, which only ever comes from the configured Credentials, so an appID
// a client wrote cannot become a label value.
func (m *metrics) tokenIssued(app *apps.App, kind string, v token.Variant) {
	key := issuedSeriesKey{app.ID, kind, v}
	m.seriesMu.RLock()
	c, ok := m.issuedS[key]
	m.seriesMu.RUnlock()
	if !ok {
		c = m.tokensIssued.WithLabelValues(strconv.FormatUint(uint64(app.ID), 10), kind, v.String())
		m.seriesMu.Lock()
		if len(m.issuedS) < maxCachedSeries {
			m.issuedS[key] = c
		}
		m.seriesMu.Unlock()
	}
	c.Inc()
}

// tokenFailed counts a failed token request by its reason, a constant.
func (m *metrics) tokenFailed(reason string) {
	m.mu.Lock()
	if !m.reasons[reason] {
		if len(m.reasons) >= maxReasons {
			reason = labelOther
		} else {
			m.reasons[reason] = true
		}
	}
	m.mu.Unlock()
	m.tokenFailures.WithLabelValues(reason).Inc()
}

// methodLabel maps an HTTP method to a bounded label value: the methods of
// RFC 9110 and PATCH keep their name, anything else (any token is a valid
// method on the wire) becomes "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return labelOther
}
