// Package sandbox runs paygate without provider credentials: it mounts the
// built-in simulators of the providers' APIs (their hosted bank and wallet
// pages, QR codes and vouchers) under /sandbox/{provider}/, and offers a
// control API, like Stripe's test helpers, to approve, decline or expire the
// payment of a payment order's latest attempt at its simulated provider —
// which then sends its webhook signed as the real provider signs it.
package sandbox

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/server"
)

// Simulator is a provider's sandbox: its API and pages, the test helpers
// that settle a payment and send the webhook, and the faults its webhook
// delivery can suffer. Handler is nil for a simulator in another process
// (Remote).
type Simulator interface {
	Handler() http.Handler
	Approve(ctx context.Context, ref string) error
	Decline(ctx context.Context, ref string) error
	Expire(ctx context.Context, ref string) error
	SetFaults(f Faults) error
	Redeliver(ctx context.Context, ref string) error
}

// Faults make a simulator's webhooks misbehave as real providers' do, for
// the deliveries that follow, and its API as a failing provider's does,
// for the requests that follow (see simkit.Faults, of the same fields).
type Faults struct {
	Duplicate int           `json:"duplicate"` // extra copies of each event
	Reorder   bool          `json:"reorder"`   // newest event first
	Delay     time.Duration `json:"delay"`     // before each delivery (nanoseconds in JSON)
	Drop      int           `json:"drop"`      // lose the next N events, never retried
	DropRate  float64       `json:"drop_rate"` // lose each event with this probability
	// API makes the simulator's API (not its pages) misbehave: "" is
	// well-behaved; "down" closes each connection without an answer;
	// "error" answers 500 in the provider's error shape; "slow" answers
	// after APIDelay; "timeout_after_create" creates the payment but never
	// answers the create (lookups and a retry of the create still answer).
	// Any other value is EINVALID.
	API string `json:"api"`
	// APIDelay is slow's wait (required) and the most
	// timeout_after_create holds the connection (0 is 2 minutes).
	APIDelay Duration `json:"api_delay"`
}

// The values of Faults.API.
const (
	APIDown               = "down"
	APIError              = "error"
	APISlow               = "slow"
	APITimeoutAfterCreate = "timeout_after_create"
)

// Duration is a time.Duration written in JSON as nanoseconds, like
// Faults.Delay, and also read from a Go duration string ("1.5s", "250ms").
type Duration time.Duration

// MarshalJSON writes nanoseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatInt(int64(d), 10)), nil
}

// UnmarshalJSON reads nanoseconds or a Go duration string; anything else
// is an EINVALID error.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if s, err := strconv.Unquote(string(b)); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return paygate.Errorf(paygate.EINVALID, "duration %q is neither nanoseconds nor a duration such as \"1.5s\"", paygate.Clip(s, 32))
		}
		*d = Duration(v)
		return nil
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return paygate.Errorf(paygate.EINVALID, "duration %s is neither nanoseconds nor a duration such as \"1.5s\"", paygate.Clip(string(b), 32))
	}
	*d = Duration(v)
	return nil
}

// Sandbox is the mounted simulators and the control API.
type Sandbox struct {
	checkout   *checkout.Service
	simulators map[string]Simulator
	keys       server.Keys
}

// New returns the sandbox over the simulators, by provider name.
func New(c *checkout.Service, simulators map[string]Simulator, keys server.Keys) *Sandbox {
	return &Sandbox{checkout: c, simulators: simulators, keys: keys}
}

// Routes mounts each simulator at /sandbox/{provider}/ (except the Remote
// ones, served by their own process) and the control API
// at POST /sandbox/payment-orders/{number}/{approve|decline|expire}
// (marketplace key; ?attempt=ID picks an attempt other than the latest;
// redeliver re-sends every webhook of the payment), and
// PUT /sandbox/faults/{provider} with a Faults body, webhook and API
// faults.
func (s *Sandbox) Routes(r *mux.Router) {
	// Each simulator's settlement report, which the reconciliation of
	// docs/walkthrough.md uses, is a route of its own (before the mounts that
	// would take it), so that the document describes it as an operation.
	// A simulator without a Handler runs in another process (Remote): its
	// API, pages and report are served there, not here.
	var names []string
	for _, name := range slices.Sorted(maps.Keys(s.simulators)) {
		if s.simulators[name].Handler() != nil {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		r.Handle("/sandbox/{provider:"+strings.Join(names, "|")+"}/reports/settlement.csv", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name := mux.Vars(r)["provider"]
			http.StripPrefix("/sandbox/"+name, s.simulators[name].Handler()).ServeHTTP(w, r)
		})).Methods(http.MethodGet)
	}
	for _, name := range names {
		prefix := "/sandbox/" + name
		r.PathPrefix(prefix + "/").Handler(http.StripPrefix(prefix, s.simulators[name].Handler()))
	}
	auth := s.keys.Require(server.RoleMarketplace)
	r.Handle("/sandbox/payment-orders/{number}/{action:approve|decline|expire|redeliver}", auth(http.HandlerFunc(s.handleAction))).Methods(http.MethodPost)
	r.Handle("/sandbox/faults/{provider}", auth(http.HandlerFunc(s.handleFaults))).Methods(http.MethodPut)
}

// SetFaults sets the faults of a provider's simulator.
func (s *Sandbox) SetFaults(provider string, f Faults) error {
	sim := s.simulators[provider]
	if sim == nil {
		return paygate.Errorf(paygate.ENOTFOUND, "no simulator of provider %q", provider)
	}
	return sim.SetFaults(f)
}

func (s *Sandbox) handleFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := server.DecodeJSON(r, &f); err != nil {
		server.WriteError(w, r, err)
		return
	}
	if err := s.SetFaults(mux.Vars(r)["provider"], f); err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, f)
}

// Act applies action to the payment of the payment order's latest attempt,
// or of the attempt with id attempt if it is not "", whatever that
// attempt's state (so a late or second payment can be simulated).
func (s *Sandbox) Act(ctx context.Context, p paygate.PaymentOrderNumber, attempt, action string) (checkout.Attempt, error) {
	a, err := s.attempt(ctx, p, attempt)
	if err != nil {
		return checkout.Attempt{}, err
	}
	sim := s.simulators[a.Provider]
	if sim == nil {
		return checkout.Attempt{}, paygate.Errorf(paygate.ECONFLICT, "provider %s of attempt %s is not simulated", a.Provider, a.ID)
	}
	if a.ProviderRef == "" {
		return checkout.Attempt{}, paygate.Errorf(paygate.ECONFLICT, "attempt %s has no payment at its provider", a.ID)
	}
	if (action == "decline" || action == "expire") && a.Status == checkout.AttemptSucceeded {
		// The bank has paid: nothing can decline or expire the payment now,
		// and a 200 that changed nothing would say it did.
		return checkout.Attempt{}, paygate.Errorf(paygate.ECONFLICT, "attempt %s of %s is paid: only a payment still waiting can be declined or expired", a.ID, p)
	}
	switch action {
	case "approve":
		err = sim.Approve(ctx, a.ProviderRef)
	case "decline":
		err = sim.Decline(ctx, a.ProviderRef)
	case "expire":
		err = sim.Expire(ctx, a.ProviderRef)
	case "redeliver":
		err = sim.Redeliver(ctx, a.ProviderRef)
	default:
		err = paygate.Errorf(paygate.EINVALID, "unknown sandbox action %q", action)
	}
	return a, err
}

func (s *Sandbox) handleAction(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	p, err := paygate.ParsePaymentOrderNumber(vars["number"])
	if err != nil {
		server.WriteError(w, r, paygate.Errorf(paygate.ENOTFOUND, "%s", paygate.ErrorMessage(err)))
		return
	}
	a, err := s.Act(r.Context(), p, r.URL.Query().Get("attempt"), vars["action"])
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	po, err := s.checkout.Get(r.Context(), p)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, map[string]string{
		"payment_order": string(p), "action": vars["action"], "attempt": a.ID,
		"provider": a.Provider, "provider_ref": a.ProviderRef, "status": string(po.Status),
	})
}

func (s *Sandbox) attempt(ctx context.Context, p paygate.PaymentOrderNumber, id string) (checkout.Attempt, error) {
	if id == "" {
		return s.checkout.LatestAttempt(ctx, p)
	}
	po, err := s.checkout.Get(ctx, p)
	if err != nil {
		return checkout.Attempt{}, err
	}
	for _, a := range po.Attempts {
		if a.ID == id {
			return a, nil
		}
	}
	return checkout.Attempt{}, paygate.Errorf(paygate.ENOTFOUND, "payment order %s has no attempt %q", p, id)
}
