package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads a comma-separated list of the reverse proxies
// in front of paygate, as CIDR prefixes ("10.0.0.0/8") or single addresses
// ("192.0.2.7"), as PAYGATE_TRUSTED_PROXIES spells them. An empty string is
// no proxy; anything unreadable is an error.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("server: trusted proxy %q: %w", f, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("server: trusted proxy %q is neither an address nor a CIDR prefix", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clientIP returns who a request is counted against: the connection's peer
// address, or, when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not a trusted proxy (the entries left of it are
// whatever the client chose to send, so they are never believed). If that
// entry is unreadable, the proxy that passed it on is the client. An IPv6
// client is its /64 network, which one subscriber usually holds whole.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr // not TCP (a test's or a Unix socket's peer); one client
	}
	client := peer
	if isTrusted(peer, trusted) {
		hops := forwardedFor(r.Header)
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := netip.ParseAddr(hops[i])
			if err != nil {
				break
			}
			client = a.Unmap()
			if !isTrusted(client, trusted) {
				break
			}
		}
	}
	if client.Is6() {
		client = client.WithZone("")
		p, _ := client.Prefix(64) // 64 bits always fit an IPv6 address
		return p.String()
	}
	return client.String()
}

// parseHost reads the address of host:port.
func parseHost(hostport string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor returns the entries of every X-Forwarded-For header, in
// order.
func forwardedFor(h http.Header) []string {
	var out []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, f := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(f))
		}
	}
	return out
}
