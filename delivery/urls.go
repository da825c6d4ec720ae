package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/paygate/paygate"
)

// policy is which URLs and addresses endpoints may have.
type policy struct {
	live     bool
	allow    map[string]bool // hosts exempt from the address rules
	resolver Resolver
}

// maxURL bounds an endpoint's URL.
const maxURL = 2048

func normalizeHosts(hs []string) map[string]bool {
	m := map[string]bool{}
	for _, h := range hs {
		if h = strings.ToLower(strings.TrimSpace(strings.TrimSuffix(h, "."))); h != "" {
			m[h] = true
		}
	}
	return m
}

// allowed reports whether host is on PAYGATE_WEBHOOK_ALLOW_HOSTS.
func (p policy) allowed(host string) bool {
	return p.allow[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// checkURL checks an endpoint URL at registration and returns it as
// stored: http(s), a host, no user info or fragment; in live mode https,
// and a host whose every address may be reached (resolved now; each
// connection checks again).
func (p policy) checkURL(ctx context.Context, raw string) (string, error) {
	bad := func(format string, args ...any) error {
		return paygate.Errorf(paygate.EINVALID, "url: "+format, args...)
	}
	if raw == "" {
		return "", bad("required")
	}
	if len(raw) > maxURL {
		return "", bad("at most %d characters", maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("not a URL")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("must be http or https")
	case p.live && u.Scheme != "https":
		return "", bad("must be https in live mode")
	case u.User != nil:
		return "", bad("must not hold user info (user:password@)")
	case u.Hostname() == "":
		return "", bad("has no host")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", bad("must not have a fragment")
	case u.Opaque != "":
		return "", bad("not an absolute URL such as https://shop.example/webhooks")
	}
	host := u.Hostname()
	if p.allowed(host) {
		return u.String(), nil
	}
	ips, err := p.lookup(ctx, host)
	if err != nil {
		if !p.live {
			return u.String(), nil // the sandbox may register a host it cannot resolve yet
		}
		return "", bad("cannot resolve host %q", paygate.Clip(host, 100))
	}
	for _, ip := range ips {
		if why := p.forbidden(ip); why != "" {
			return "", bad("host %q has the %s address %s, which webhooks may not reach in live mode (list the host in PAYGATE_WEBHOOK_ALLOW_HOSTS to allow it)", paygate.Clip(host, 100), why, ip)
		}
	}
	return u.String(), nil
}

// lookup returns the addresses of host (itself if it is an address).
func (p policy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	as, err := p.resolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("no address for %s", host)
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// Blocks that are neither loopback, private nor link-local by net/netip's
// tests but must not be reached either.
var forbiddenPrefixes = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT, cloud metadata)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "cloud metadata"},
}

// cloudMetadata are the metadata services' addresses, refused in the
// sandbox too.
var cloudMetadata = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true,
	netip.MustParseAddr("169.254.170.2"):   true,
	netip.MustParseAddr("100.100.100.200"): true,
	netip.MustParseAddr("fd00:ec2::254"):   true,
	netip.MustParseAddr("fd20:ce::254"):    true,
}

// forbidden returns why ip may not be reached ("" if it may).
func (p policy) forbidden(ip netip.Addr) string {
	ip = ip.Unmap()
	if cloudMetadata[ip] {
		return "cloud metadata"
	}
	if !p.live {
		return ""
	}
	// An IPv6 address that embeds an IPv4 one (NAT64, 6to4) is judged by it.
	if ip.Is6() {
		b := ip.As16()
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(ip):
			if why := p.forbidden(netip.AddrFrom4([4]byte(b[12:16]))); why != "" {
				return why
			}
		case netip.MustParsePrefix("2002::/16").Contains(ip):
			if why := p.forbidden(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
				return why
			}
		}
	}
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsMulticast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, f := range forbiddenPrefixes {
		if f.prefix.Contains(ip) {
			return f.why
		}
	}
	return ""
}

// ErrForbiddenAddress is the dial error for an address live mode may not
// reach.
var ErrForbiddenAddress = errors.New("address forbidden for webhooks")

// httpClient sends deliveries: no proxy, no redirects, and a dialer that
// resolves with the policy's resolver and refuses, at the connection
// itself, any address the policy forbids (so that a name that resolved to
// a public address at registration cannot be rebound to an internal one).
type httpClient struct {
	*http.Client
}

func newHTTPClient(p policy, conns int) *httpClient {
	dialer := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
			}
			if why := p.forbidden(ap.Addr()); why != "" {
				return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, ap.Addr(), why)
			}
			return nil
		},
	}
	// An allowed host skips the address rules but not the proxy ban.
	open := &net.Dialer{Timeout: 10 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if p.allowed(host) {
			return open.DialContext(ctx, network, addr)
		}
		ips, err := p.lookup(ctx, host)
		if err != nil {
			return nil, err
		}
		var errs []error
		for _, ip := range ips {
			c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
			if errors.Is(err, ErrForbiddenAddress) {
				break
			}
		}
		return nil, errors.Join(errs...)
	}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0,
		ForceAttemptHTTP2:     true,
	}
	return &httpClient{&http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}
