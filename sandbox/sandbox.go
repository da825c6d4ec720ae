// Package sandbox runs paygate without provider credentials: it mounts the
// built-in simulators of the providers' APIs (their hosted bank and wallet
// pages, QR codes and vouchers) under /sandbox/{provider}/, and offers a
// control API, like Stripe's test helpers, to approve, decline or expire the
// payment of a payment order's latest attempt at its simulated provider —
// which then sends its webhook signed as the real provider signs it.
package sandbox

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/server"
)

// Simulator is a provider's sandbox: its API and pages, and the test
// helpers that settle a payment and send the webhook.
type Simulator interface {
	Handler() http.Handler
	Approve(ctx context.Context, ref string) error
	Decline(ctx context.Context, ref string) error
	Expire(ctx context.Context, ref string) error
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

// Routes mounts each simulator at /sandbox/{provider}/ and the control API
// at POST /sandbox/payment-orders/{number}/{approve|decline|expire}
// (marketplace key; ?attempt=ID picks an attempt other than the latest).
func (s *Sandbox) Routes(r *mux.Router) {
	for name, sim := range s.simulators {
		prefix := "/sandbox/" + name
		r.PathPrefix(prefix + "/").Handler(http.StripPrefix(prefix, sim.Handler()))
	}
	auth := s.keys.Require(server.RoleMarketplace)
	r.Handle("/sandbox/payment-orders/{number}/{action:approve|decline|expire}", auth(http.HandlerFunc(s.handleAction))).Methods(http.MethodPost)
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
	switch action {
	case "approve":
		err = sim.Approve(ctx, a.ProviderRef)
	case "decline":
		err = sim.Decline(ctx, a.ProviderRef)
	case "expire":
		err = sim.Expire(ctx, a.ProviderRef)
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
