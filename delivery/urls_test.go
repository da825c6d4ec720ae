package delivery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
)

// names is a test resolver's zone.
var names = map[string][]string{
	"shop.example":     {"93.184.216.34"},
	"localhost":        {"127.0.0.1", "::1"},
	"intranet.example": {"10.1.2.3"},
	"mixed.example":    {"93.184.216.34", "192.168.1.10"},
	"metadata.example": {"169.254.169.254"},
	"v6meta.example":   {"fd00:ec2::254"},
	"nat64.example":    {"64:ff9b::a9fe:a9fe"},
	"cgnat.example":    {"100.100.100.200"},
}

func zone(host string) []string { return names[host] }

// TestLiveRefusesInternalURLs: live mode registers only https URLs whose
// every address is public, unless the host is allowed; the sandbox takes
// loopback over http. Bad input is a 400 that names the rule.
func TestLiveRefusesInternalURLs(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		live := newService(db, func(c *delivery.Config) {
			c.Live, c.Resolver, c.AllowHosts = true, localResolver{zone}, []string{"hooks.internal.example"}
		})
		refused := map[string]string{
			"http://shop.example/hooks":            "https",
			"ftp://shop.example/hooks":             "http or https",
			"https://user:pw@shop.example/hooks":   "user info",
			"https://localhost/hooks":              "loopback",
			"https://127.0.0.1:8443/hooks":         "loopback",
			"https://[::1]/hooks":                  "loopback",
			"https://intranet.example/hooks":       "private",
			"https://mixed.example/hooks":          "private",
			"https://10.0.0.8/hooks":               "private",
			"https://metadata.example/latest":      "metadata",
			"https://169.254.169.254/latest":       "metadata",
			"https://[fd00:ec2::254]/latest":       "metadata",
			"https://v6meta.example/":              "metadata",
			"https://nat64.example/":               "metadata",
			"https://cgnat.example/":               "metadata",
			"https://[fe80::1]/":                   "link-local",
			"https://nowhere.example/":             "resolve",
			"https://shop.example/hooks#frag":      "fragment",
			"":                                     "required",
			"https:///hooks":                       "host",
			"https://" + strings.Repeat("a", 2100): "2048",
		}
		for u, why := range refused {
			_, err := live.Create(ctx, "marketplace", delivery.NewEndpoint{URL: u, Events: []string{"*"}})
			if paygate.ErrorCode(err) != paygate.EINVALID || !strings.Contains(paygate.ErrorMessage(err), why) {
				t.Errorf("live %q: %v, want a 400 about %s", u, err, why)
			}
		}
		for _, u := range []string{"https://shop.example/hooks", "https://hooks.internal.example:8443/in"} {
			if _, err := live.Create(ctx, "marketplace", delivery.NewEndpoint{URL: u, Events: []string{"*"}}); err != nil {
				t.Errorf("live %q: %v", u, err)
			}
		}
		sandbox := newService(db, func(c *delivery.Config) { c.Resolver = localResolver{zone} })
		for _, u := range []string{"http://127.0.0.1:9000/hooks", "http://localhost/hooks", "https://10.0.0.8/x"} {
			if _, err := sandbox.Create(ctx, "marketplace", delivery.NewEndpoint{URL: u, Events: []string{"*"}}); err != nil {
				t.Errorf("sandbox %q: %v", u, err)
			}
		}
		if _, err := sandbox.Create(ctx, "marketplace", delivery.NewEndpoint{URL: "http://169.254.169.254/", Events: []string{"*"}}); paygate.ErrorCode(err) != paygate.EINVALID {
			t.Errorf("the sandbox registered the metadata address: %v", err)
		}
		// A failed registration changed nothing.
		es, err := live.List(ctx, "marketplace")
		if err != nil || len(es) != 5 {
			t.Errorf("%d endpoints (%v), want the 5 accepted", len(es), err)
		}
	})
}

// TestLiveRefusesInternalAddressAtDelivery: a host that resolved to a
// public address at registration and to loopback at delivery (DNS
// rebinding) is not connected to: the attempt is recorded as refused and
// the receiver on loopback gets nothing.
func TestLiveRefusesInternalAddressAtDelivery(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		var hits atomic.Int64
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		defer srv.Close()
		port := strings.TrimPrefix(srv.URL, "https://127.0.0.1:")
		var rebound atomic.Bool
		s := newService(db, func(c *delivery.Config) {
			c.Live = true
			c.Resolver = localResolver{func(host string) []string {
				if host == "rebind.example" && rebound.Load() {
					return []string{"127.0.0.1"}
				}
				if host == "rebind.example" {
					return []string{"93.184.216.34"}
				}
				return nil
			}}
		})
		e, err := s.Create(ctx, "marketplace", delivery.NewEndpoint{URL: "https://rebind.example:" + port + "/hooks", Events: []string{"*"}})
		if err != nil {
			t.Fatal(err)
		}
		rebound.Store(true)
		run(t, s)
		appendEvent(t, db, events.SalesOrderPaid, "K4000001")
		var as []delivery.Attempt
		waitFor(t, 10*time.Second, "a refused attempt", func() bool {
			as, err = s.Attempts(ctx, "marketplace", e.ID, 0, 10)
			return err == nil && len(as) > 0
		})
		if as[0].Result != delivery.ResultRefused || !strings.Contains(as[0].Error, "127.0.0.1 is loopback") || as[0].StatusCode != 0 {
			t.Errorf("attempt %+v, want refused for loopback", as[0])
		}
		if hits.Load() != 0 {
			t.Errorf("the loopback receiver got %d requests", hits.Load())
		}
	})
}
