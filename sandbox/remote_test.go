package sandbox_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
	"github.com/paygate/paygate/providers/stripesim"
	"github.com/paygate/paygate/sandbox"
)

// stripeSim is the Stripe simulator as a sandbox.Simulator.
type stripeSim struct{ *stripesim.Simulator }

func (s stripeSim) SetFaults(f sandbox.Faults) error {
	return s.Simulator.SetFaults(simkit.Faults{Duplicate: f.Duplicate, Reorder: f.Reorder, Delay: f.Delay, Drop: f.Drop,
		DropRate: f.DropRate, API: simkit.APIFault(f.API), APIDelay: time.Duration(f.APIDelay)})
}

// TestRemoteKeepsTheSimulatorsErrors: a Remote over Host reaches the
// simulator's test helpers and hands back its errors with their codes; a
// wrong secret and an unreachable simulator are errors of their own.
func TestRemoteKeepsTheSimulatorsErrors(t *testing.T) {
	sim := stripesim.New(stripesim.Config{APIKey: "sk_test_remote"})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sandbox.Host(map[string]sandbox.Hosted{"stripe": {Simulator: stripeSim{sim}, Secret: "sk_test_remote"}}))
	t.Cleanup(srv.Close)
	remote := &sandbox.Remote{URL: srv.URL + "/sandbox/stripe", Secret: "sk_test_remote"}
	ctx := context.Background()

	if err := remote.SetFaults(sandbox.Faults{Drop: 2}); err != nil {
		t.Fatalf("SetFaults(drop 2) = %v", err)
	}
	if got := sim.Faults(); got.Drop != 2 {
		t.Fatalf("the simulator's faults after SetFaults = %+v, want drop 2", got)
	}
	for _, tc := range []struct {
		name string
		call func() error
		code string
	}{
		{"approve an unknown payment", func() error { return remote.Approve(ctx, "pi_unknown") }, paygate.ENOTFOUND},
		{"expire an unknown payment", func() error { return remote.Expire(ctx, "pi_unknown") }, paygate.ENOTFOUND},
		{"an unknown API fault", func() error { return remote.SetFaults(sandbox.Faults{API: "sideways"}) }, paygate.EINVALID},
		{"a wrong secret", func() error {
			return (&sandbox.Remote{URL: remote.URL, Secret: "sk_test_other"}).Decline(ctx, "pi_unknown")
		}, paygate.EUNAUTHORIZED},
		{"an unreachable simulator", func() error {
			return (&sandbox.Remote{URL: "http://127.0.0.1:1/sandbox/stripe", Secret: "x"}).Approve(ctx, "pi_unknown")
		}, paygate.EUNAVAILABLE},
	} {
		if err := tc.call(); paygate.ErrorCode(err) != tc.code {
			t.Errorf("%s = %v (code %q), want code %q", tc.name, err, paygate.ErrorCode(err), tc.code)
		}
	}
	if remote.Handler() != nil {
		t.Error("a Remote has a Handler: the gateway would mount it")
	}
}
