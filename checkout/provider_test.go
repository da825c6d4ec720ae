package checkout

import (
	"testing"

	"github.com/paygate/paygate/providers"
)

// TestProviderIsTheAttempts: the janitor and cancellations reach the
// provider the attempt records, not the one its method maps to in the
// catalog (iDEAL is Stripe's there): with routes, a method has two roads.
func TestProviderIsTheAttempts(t *testing.T) {
	type named struct {
		providers.Provider
		name string
	}
	s := &Service{cfg: Config{Providers: map[string]providers.Provider{}}}
	s.cfg.Providers[providers.Stripe] = named{name: "the Stripe client"}
	s.cfg.Providers[providers.Rapyd] = named{name: "the Rapyd client"}
	got, err := s.Provider(Attempt{ID: "att_1", Method: providers.IDEAL, Provider: providers.Rapyd})
	if err != nil || got != s.cfg.Providers[providers.Rapyd] {
		t.Fatalf("Provider of an iDEAL attempt taken by Rapyd = %v, %v; want the Rapyd client", got, err)
	}
	if _, err := s.Provider(Attempt{ID: "att_2", Method: providers.IDEAL, Provider: "adyen"}); err == nil {
		t.Fatal("an attempt of an unconfigured provider got a client")
	}
}
