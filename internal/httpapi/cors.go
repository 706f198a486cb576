package httpapi

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ValidateOrigin reports whether o is a browser origin the API may allow:
// exactly scheme://host[:port] with scheme http or https, as a browser
// sends it in the Origin header. Patterns are refused: the CORS middleware
// would treat "*" anywhere as a wildcard and let any site call the API with
// its users' credentials.
func ValidateOrigin(o string) error {
	if strings.Contains(o, "*") {
		return fmt.Errorf("%q is a pattern; list each origin exactly, such as https://app.example.com", o)
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Opaque != "" || u.Host == "" {
		return fmt.Errorf("%q is not an origin: want http:// or https:// and a host, such as https://app.example.com", o)
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("%q is not an origin: it has user info", o)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%q is not an origin: it has a query", o)
	case u.Fragment != "" || strings.Contains(o, "#"):
		return fmt.Errorf("%q is not an origin: it has a fragment", o)
	case u.Path != "" || u.RawPath != "":
		return fmt.Errorf("%q is not an origin: it has a path (even a trailing / is one)", o)
	case u.Scheme+"://"+u.Host != o:
		return fmt.Errorf("%q is not an origin: want exactly scheme://host[:port]", o)
	}
	if err := validateOriginHost(u); err != nil {
		return fmt.Errorf("%q is not an origin: %v", o, err)
	}
	return nil
}

// validateOriginHost checks the host and port of an origin: a DNS name in
// ASCII (browsers send the xn-- form), an IPv4 address or a bracketed IPv6
// address, and a port from 1 to 65535 other than the scheme's default,
// which browsers leave out of the Origin header.
func validateOriginHost(u *url.URL) error {
	host, port := u.Hostname(), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("the port is empty")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		switch {
		case err != nil || n < 1 || n > 65535:
			return fmt.Errorf("port %s is not from 1 to 65535", port)
		case port[0] == '0':
			return fmt.Errorf("port %s has a leading zero", port)
		case u.Scheme == "http" && n == 80 || u.Scheme == "https" && n == 443:
			return fmt.Errorf("port %d is the default for %s; browsers send the origin without it", n, u.Scheme)
		}
	}
	if strings.HasPrefix(u.Host, "[") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return fmt.Errorf("%s is not an IPv6 address", host)
		}
		return nil
	}
	if host == "" {
		return fmt.Errorf("the host is empty")
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("the host has %q; use lower-case ASCII letters, digits, - and . (xn-- for other scripts)", c)
		}
	}
	if host[0] == '.' || host[len(host)-1] == '.' || strings.Contains(host, "..") {
		return fmt.Errorf("the host %s has an empty label", host)
	}
	return nil
}
