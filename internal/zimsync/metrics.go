package zimsync

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// knownCodes are the ZEGO codes that get a label of their own in the
// failures metric; any other is "other", so that whatever ZEGO answers,
// the label set stays bounded.
var knownCodes = map[int64]bool{
	660000012: true, // userID too long
	660300005: true, // over the app's call rate
	660700001: true, // over 20 requests/s
	660700002: true, // user already exists
	660700006: true, // userName too long
	660700007: true, // avatar too long
	660700012: true, // user not registered
	100000004: true, // signature expired
	100000005: true, // signature wrong
}

// kickoutCodes are knownCodes of KickoutUser.
var kickoutCodes = map[int64]bool{
	50011:     true, // too many users
	100000004: true, // signature expired
	100000005: true, // signature wrong
}

// codeLabel is the failures metric's label for ZEGO code c: "none" for a
// failure without a code (network, timeout).
func codeLabel(c int64) string { return codeLabelIn(knownCodes, c) }

// codeLabelIn is codeLabel, with known the codes that get their own label.
func codeLabelIn(known map[int64]bool, c int64) string {
	switch {
	case c == 0:
		return "none"
	case known[c]:
		return strconv.FormatInt(c, 10)
	default:
		return "other"
	}
}

type metrics struct {
	depth, parked, oldest prometheus.Gauge
	failures              *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "authsvc_zim_outbox_depth",
			Help: "Users waiting to be sent to ZIM, parked ones included, all apps."}),
		parked: prometheus.NewGauge(prometheus.GaugeOpts{Name: "authsvc_zim_outbox_parked",
			Help: "Users ZIM refused for good, waiting for a change."}),
		oldest: prometheus.NewGauge(prometheus.GaugeOpts{Name: "authsvc_zim_outbox_oldest_age_seconds",
			Help: "Age of the oldest change not yet in ZIM (parked users aside), 0 when none."}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsvc_zim_sync_failures_total",
			Help: "Users a send to ZIM failed for, by ZEGO code (none, a known code, or other)."}, []string{"code"}),
	}
	if r == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.depth, m.parked, m.oldest, m.failures} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) failure(code int64) { m.failures.WithLabelValues(codeLabel(code)).Inc() }

type kickoutMetrics struct {
	depth    prometheus.Gauge
	kicked   prometheus.Counter
	failures *prometheus.CounterVec
	dropped  *prometheus.CounterVec
}

func newKickoutMetrics(r prometheus.Registerer) (*kickoutMetrics, error) {
	m := &kickoutMetrics{
		depth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "authsvc_rtc_kickout_outbox_depth",
			Help: "Kick-outs (app, room, user) of revoked users waiting to be sent to RTC, all apps."}),
		kicked: prometheus.NewCounter(prometheus.CounterOpts{Name: "authsvc_rtc_kickouts_total",
			Help: "Revoked users RTC removed from a room."}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsvc_rtc_kickout_failures_total",
			Help: "Kick-outs a KickoutUser call failed for, by ZEGO code (none, a known code, or other)."}, []string{"code"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authsvc_rtc_kickouts_dropped_total",
			Help: "Kick-outs given up on: refused for good (permanent), or still failing a day after the grant expired (expired)."},
			[]string{"reason"}),
	}
	// Both reasons are shown from the start, at 0.
	m.dropped.WithLabelValues("permanent")
	m.dropped.WithLabelValues("expired")
	if r == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.depth, m.kicked, m.failures, m.dropped} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *kickoutMetrics) failure(code int64) {
	m.failures.WithLabelValues(codeLabelIn(kickoutCodes, code)).Inc()
}
