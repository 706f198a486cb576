package httpapi

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestParseHop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // "" = not an address
	}{
		{"203.0.113.7", "203.0.113.7"},
		{" 203.0.113.7 ", "203.0.113.7"},
		{"\t203.0.113.7", "203.0.113.7"},
		{"203.0.113.7:4000", "203.0.113.7"},
		{"2001:db8::1", "2001:db8::1"},
		{"[2001:db8::1]", "2001:db8::1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"::ffff:203.0.113.7", "203.0.113.7"},
		{"[::ffff:203.0.113.7]:80", "203.0.113.7"},
		{"fe80::1%eth0", "fe80::1"},
		{"[fe80::1%eth0]:443", "fe80::1"},
		{"", ""},
		{" ", ""},
		{"unknown", ""},
		{"_hidden", ""},
		{"proxy.example.com", ""},
		{"203.0.113.7:", ""},
		{"203.0.113.7:99999", ""},
		{"203.0.113.7:http", ""},
		{"[203.0.113.7]", ""},
		{"[203.0.113.7]:80", ""},
		{"2001:db8::1:443x", ""},
		{"[2001:db8::1", ""},
		{"2001:db8::1]", ""},
		{"203.0.113.7/24", ""},
		{"203.0.113.7 198.51.100.1", ""},
	}
	for _, tt := range tests {
		got, ok := parseHop(tt.in)
		if (tt.want == "") != !ok || ok && got.String() != tt.want {
			t.Errorf("parseHop(%q) = %v, %v, want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestClientOfAndKey(t *testing.T) {
	t.Parallel()
	const proxy = "10.0.0.2:1234"
	tests := []struct {
		name       string
		trusted    []string
		remote     string
		xff        []string
		ipv6Prefix int
		wantIP     string
		wantKnown  bool
		wantKey    string
	}{
		{"ipv4 peer", nil, "203.0.113.9:1234", nil, 0, "203.0.113.9", true, "203.0.113.9"},
		{"ipv6 peer, by its /64", nil, "[2001:db8:1:2:3:4:5:6]:1234", nil, 0, "2001:db8:1:2:3:4:5:6", true, "2001:db8:1:2::/64"},
		{"ipv6 peer, configured /56", nil, "[2001:db8:1:2:3:4:5:6]:1234", nil, 56, "2001:db8:1:2:3:4:5:6", true, "2001:db8:1::/56"},
		{"ipv6 peer, configured /128", nil, "[2001:db8::6]:1234", nil, 128, "2001:db8::6", true, "2001:db8::6/128"},
		{"ipv4-mapped peer is ipv4", nil, "[::ffff:203.0.113.9]:1234", nil, 0, "203.0.113.9", true, "203.0.113.9"},
		{"loopback v6", nil, "[::1]:1234", nil, 0, "::1", true, "::/64"},
		{"untrusted peer cannot pick its IP", []string{"10.0.0.0/8"}, "203.0.113.9:1234", []string{"1.2.3.4"}, 0, "203.0.113.9", true, "203.0.113.9"},
		{"trusted proxy", []string{"10.0.0.0/8"}, proxy, []string{"198.51.100.7"}, 0, "198.51.100.7", true, "198.51.100.7"},
		{"entry with a port", []string{"10.0.0.0/8"}, proxy, []string{"203.0.113.7:4000"}, 0, "203.0.113.7", true, "203.0.113.7"},
		{"ipv6 entry with a port", []string{"10.0.0.0/8"}, proxy, []string{"[2001:db8::1]:443"}, 0, "2001:db8::1", true, "2001:db8::/64"},
		{"proxy hops with ports", []string{"10.0.0.0/8"}, proxy, []string{"198.51.100.7:1, 10.0.0.5:2", "[::ffff:10.0.0.3]:3"}, 0, "198.51.100.7", true, "198.51.100.7"},
		{"spoofed hop before the proxy", []string{"10.0.0.0/8"}, proxy, []string{"1.2.3.4, 198.51.100.7"}, 0, "198.51.100.7", true, "198.51.100.7"},
		{"garbage left of the client is never read", []string{"10.0.0.0/8"}, proxy, []string{"garbage, 198.51.100.7"}, 0, "198.51.100.7", true, "198.51.100.7"},
		{"garbled entry", []string{"10.0.0.0/8"}, proxy, []string{"not-an-ip"}, 0, "10.0.0.2", false, "unidentified via 10.0.0.2"},
		{"garbled entry behind a second proxy: the peer's bucket", []string{"10.0.0.0/8"}, proxy, []string{"unknown, 10.0.0.5"}, 0, "10.0.0.5", false, "unidentified via 10.0.0.2"},
		{"empty entry", []string{"10.0.0.0/8"}, proxy, []string{"198.51.100.7,"}, 0, "10.0.0.2", false, "unidentified via 10.0.0.2"},
		{"no header: the proxy itself", []string{"10.0.0.0/8"}, proxy, nil, 0, "10.0.0.2", true, "10.0.0.2"},
		{"unparseable peer", nil, "pipe", nil, 0, "invalid IP", false, "unidentified via an unknown peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{}
			s.cfg.Limits.IPv6Prefix = tt.ipv6Prefix
			for _, p := range tt.trusted {
				s.cfg.TrustedProxies = append(s.cfg.TrustedProxies, mustPrefix(t, p))
			}
			req, _ := http.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.remote
			for _, h := range tt.xff {
				req.Header.Add("X-Forwarded-For", h)
			}
			ip, known := s.clientOf(req)
			if ip.String() != tt.wantIP || known != tt.wantKnown {
				t.Errorf("clientOf = %s, %v, want %s, %v", ip, known, tt.wantIP, tt.wantKnown)
			}
			if got := s.clientKey(req); got != tt.wantKey {
				t.Errorf("clientKey = %q, want %q", got, tt.wantKey)
			}
		})
	}
}

// FuzzParseHop: no entry makes the parser panic; what it accepts is a plain
// address (no zone, never IPv4-mapped), and every address reads back as
// itself, bare and with a port.
func FuzzParseHop(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "203.0.113.7:4000", "[2001:db8::1]:443", "[::1]", "fe80::1%eth0", "unknown", "[", "]:", "1.2.3.4:", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, ok := parseHop(s)
		if !ok {
			if ip.IsValid() {
				t.Fatalf("parseHop(%q) refused but returned %v", s, ip)
			}
			return
		}
		if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
			t.Fatalf("parseHop(%q) = %v: not a plain address", s, ip)
		}
		for _, form := range []string{ip.String(), netip.AddrPortFrom(ip, 443).String()} {
			if again, ok := parseHop(form); !ok || again != ip {
				t.Fatalf("parseHop(%q) = %v, %v, want %v (from %q)", form, again, ok, ip, s)
			}
		}
	})
}

// FuzzClientKey: whatever a trusted proxy forwards, the rate limit key is
// short, and an address or a masked prefix unless it is the peer's one
// bucket for unidentified clients.
func FuzzClientKey(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "1.2.3.4, 10.0.0.5", "unknown", "[2001:db8::1]:443, 10.0.0.3:80", ",", "10.0.0.1,,"} {
		f.Add(s, "")
	}
	f.Add("10.0.0.9", "garbage")
	s := &Server{}
	s.cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, xff1, xff2 string) {
		req, _ := http.NewRequest("GET", "/", nil)
		req.RemoteAddr = "10.0.0.2:1234"
		req.Header["X-Forwarded-For"] = []string{xff1, xff2}
		key := s.clientKey(req)
		if len(key) > 64 {
			t.Fatalf("clientKey = %q: longer than any address or prefix", key)
		}
		if strings.HasPrefix(key, unidentifiedPrefix) {
			if key != unidentifiedPrefix+"10.0.0.2" {
				t.Fatalf("clientKey = %q, want the peer's unidentified bucket", key)
			}
			return
		}
		if _, err := netip.ParseAddr(key); err != nil {
			if p, err := netip.ParsePrefix(key); err != nil || p.Bits() != defaultIPv6Prefix || p != p.Masked() {
				t.Fatalf("clientKey = %q: neither an address nor a masked /64", key)
			}
		}
	})
}
