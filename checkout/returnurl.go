package checkout

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/paygate/paygate"
)

// returnHost is one entry of the return_url allow-list: a host name or IP
// address, lower case and ASCII, and a port, or "" for any port.
type returnHost struct {
	host, port string
}

// parseReturnHosts reads the allow-list's entries: "shop.example",
// "shop.example:8443", "127.0.0.1", "[::1]:8080".
func parseReturnHosts(entries []string) ([]returnHost, error) {
	var out []returnHost
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		h := returnHost{host: e}
		if host, port, err := net.SplitHostPort(e); err == nil {
			h = returnHost{host: host, port: port}
		} else if strings.HasPrefix(e, "[") && strings.HasSuffix(e, "]") {
			h.host = e[1 : len(e)-1]
		}
		h.host = strings.ToLower(h.host)
		if !validHostName(h.host) || (h.port != "" && !validPort(h.port)) {
			return nil, fmt.Errorf("checkout: return host %q: want a host name or IP address (ASCII; xn-- for international names) with an optional port", e)
		}
		out = append(out, h)
	}
	return out, nil
}

// validHostName reports whether h is an ASCII host name (letters, digits,
// '-', '.', '_') or an IP address.
func validHostName(h string) bool {
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}

// validPort reports whether p is a decimal port from 1 to 65535.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// checkReturnURL accepts an empty return_url, or an absolute http(s) URL
// whose host is on the allow-list (Config.ReturnHosts). Where browsers and
// Go's URL parser could read a URL differently, it is refused rather than
// guessed at: a backslash (browsers read it as '/', so
// "https://evil.example\@shop.example" goes to evil.example), whitespace or
// control characters (browsers drop tabs and newlines), user info
// ("https://shop.example@evil.example"), a host that is not plain ASCII
// (percent-encoded or Unicode names, whose lookalikes browsers map to other
// hosts), and a port outside 1 to 65535. The host is compared whole and
// without regard to case, so "shop.example.evil.example" and
// "evil-shop.example" are not "shop.example"; an entry with a port allows
// that port only (the scheme's default port when the URL names none).
func (s *Service) checkReturnURL(raw string) error {
	if raw == "" {
		return nil
	}
	bad := func() error {
		return paygate.Errorf(paygate.EINVALID, "return_url must be an absolute http(s) URL of at most %d characters, without user info, backslashes or whitespace", maxURLLen)
	}
	if len(raw) > maxURLLen || strings.ContainsFunc(raw, func(r rune) bool {
		return r <= ' ' || r == '\\' || r == 0x7f || r == '\u00a0' || r == '\u2028' || r == '\u2029' || r == '\ufeff'
	}) {
		return bad()
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return bad()
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if !validHostName(host) {
		return paygate.Errorf(paygate.EINVALID, "return_url host must be an ASCII host name (xn-- for international names) or an IP address")
	}
	if port != "" && !validPort(port) {
		return paygate.Errorf(paygate.EINVALID, "return_url port must be from 1 to 65535")
	}
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, h := range s.returnHosts {
		if h.host == host && (h.port == "" || h.port == port) {
			return nil
		}
	}
	return paygate.Errorf(paygate.EINVALID, "return_url host %q is not on the allow-list (PAYGATE_RETURN_HOSTS)", u.Host)
}
