package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
)

// defaultIPv6Prefix is how many leading bits of an IPv6 client's address
// name its rate limit bucket: a /64 is what one subscriber or host gets, so
// a client holding one cannot spread over 2^64 buckets.
const defaultIPv6Prefix = 64

// unidentifiedPrefix starts the rate limit key of clients whose trusted
// proxy sent a forwarding entry that is not an address. It cannot be read as
// an address, so it never shares a bucket with one.
const unidentifiedPrefix = "unidentified via "

// clientOf finds who sent r. It returns the peer address, or — only when
// the peer is a trusted proxy — the rightmost X-Forwarded-For entry that is
// not itself a trusted proxy. Anything a client could write itself is never
// believed. identified is false when a trusted proxy's entry could not be
// read as an address: ip is then the last address that could be trusted.
func (s *Server) clientOf(r *http.Request) (ip netip.Addr, identified bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip = peer.Addr().Unmap().WithZone("")
	if len(s.cfg.TrustedProxies) == 0 || !s.trusted(ip) {
		return ip, true
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		v := hops[i]
		for {
			j := strings.LastIndexByte(v, ',')
			hop, ok := parseHop(v[j+1:])
			if !ok {
				return ip, false
			}
			if !s.trusted(hop) {
				return hop, true
			}
			ip = hop
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	return ip, true
}

// parseHop reads one X-Forwarded-For entry: an IPv4 or IPv6 address, with
// or without a port ("203.0.113.7", "203.0.113.7:4000", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:443"), surrounded by optional spaces. A
// zone is dropped, since it means nothing off the proxy's own host, and an
// IPv4-mapped IPv6 address becomes the IPv4 address it maps.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.Trim(s, " \t")
	ip, err := netip.ParseAddr(s)
	if err != nil {
		var ap netip.AddrPort
		if ap, err = netip.ParseAddrPort(s); err == nil {
			ip = ap.Addr()
		} else if inner, ok := strings.CutPrefix(s, "["); ok && strings.HasSuffix(inner, "]") {
			if ip, err = netip.ParseAddr(inner[:len(inner)-1]); err == nil && !ip.Is6() {
				return netip.Addr{}, false // brackets hold IPv6 addresses only
			}
		}
	}
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}

// clientKey names r's client in the per-IP rate limits: an IPv4 address as
// it is, an IPv6 address by its prefix of the configured length, and a
// client a trusted proxy could not name by that proxy, in a bucket of its
// own. Unidentified clients behind one proxy share that bucket, which
// neither limits the proxy's well-named clients with them nor lets the text
// of a garbled entry choose fresh buckets. Every key is short.
func (s *Server) clientKey(r *http.Request) string {
	ip, identified := s.clientOf(r)
	if !identified {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return unidentifiedPrefix + "an unknown peer"
		}
		return unidentifiedPrefix + peer.Addr().Unmap().WithZone("").String()
	}
	if ip.Is4() {
		return ip.String()
	}
	bits := s.cfg.Limits.IPv6Prefix
	if bits == 0 {
		bits = defaultIPv6Prefix
	}
	return netip.PrefixFrom(ip, bits).Masked().String()
}
