package checkout

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/server"
)

// Middleware is what the API routes are wrapped in.
type Middleware struct {
	Keys        server.Keys
	Idempotency func(http.Handler) http.Handler
}

// Routes registers the API: creating and reading payment orders, starting
// attempts. (Sales orders are the orders package's.)
func (s *Service) Routes(r *mux.Router, m Middleware) {
	read := m.Keys.Require(server.RoleMarketplace, server.RoleFinance)
	// A payments-scoped key may create orders and start attempts, but
	// not pay from a balance (handleAttempt).
	pay := m.Keys.RequireScope(server.ScopePayments, server.RoleMarketplace)
	r.Handle("/v1/payment-orders", pay(m.Idempotency(http.HandlerFunc(s.handleCreate)))).Methods(http.MethodPost)
	r.Handle("/v1/payment-orders/{number}", read(http.HandlerFunc(s.handleGet))).Methods(http.MethodGet)
	r.Handle("/v1/payment-orders/{number}/attempts", pay(m.Idempotency(http.HandlerFunc(s.handleAttempt)))).Methods(http.MethodPost)
}

// The JSON of the API. Amounts are decimal strings in major units beside
// their currency.

type createRequest struct {
	BuyerID   string `json:"buyer_id"`
	Currency  string `json:"currency"`
	ReturnURL string `json:"return_url"`
	Items     []struct {
		SellerID    string `json:"seller_id"`
		Amount      string `json:"amount"`
		Description string `json:"description"`
	} `json:"items"`
}

type paymentOrderJSON struct {
	Number      string           `json:"number"`
	Status      Status           `json:"status"`
	BuyerID     string           `json:"buyer_id"`
	Amount      string           `json:"amount"`
	Currency    paygate.Currency `json:"currency"`
	ReturnURL   string           `json:"return_url,omitempty"`
	CheckoutURL string           `json:"checkout_url,omitempty"` // the marketplace's only
	Methods     []string         `json:"methods"`
	Items       []salesOrderJSON `json:"items"`
	Attempts    []attemptJSON    `json:"attempts"`
	CreatedAt   time.Time        `json:"created_at"`
	ExpiresAt   time.Time        `json:"expires_at"`
}

type salesOrderJSON struct {
	Number       string           `json:"number"`
	PaymentOrder string           `json:"payment_order,omitempty"`
	Status       orders.Status    `json:"status"`
	BuyerID      string           `json:"buyer_id,omitempty"`
	SellerID     string           `json:"seller_id"`
	Amount       string           `json:"amount"`
	Currency     paygate.Currency `json:"currency"`
	Description  string           `json:"description"`
}

type attemptJSON struct {
	ID            string           `json:"id"`
	Method        providers.Method `json:"method"`
	Status        AttemptStatus    `json:"status"`
	Provider      string           `json:"provider"`
	ProviderRef   string           `json:"provider_ref,omitempty"`
	Amount        string           `json:"amount"`
	Currency      paygate.Currency `json:"currency"`
	NextAction    nextActionJSON   `json:"next_action"`
	FailureReason string           `json:"failure_reason,omitempty"`
	ReplacedBy    string           `json:"replaced_by,omitempty"`
	Route         routeJSON        `json:"route"`
	CreatedAt     time.Time        `json:"created_at"`
}

// routeJSON is why an attempt went to its provider: reason primary,
// weighted or failover; a failover names the provider it came from and
// why that one could not take the payment.
type routeJSON struct {
	Reason routing.Reason `json:"reason"`
	From   string         `json:"from,omitempty"`
	Cause  string         `json:"cause,omitempty"`
}

type nextActionJSON struct {
	Type      providers.ActionType `json:"type"`
	URL       string               `json:"url,omitempty"`
	Data      string               `json:"data,omitempty"`
	ImageURL  string               `json:"image_url,omitempty"`
	Number    string               `json:"number,omitempty"`
	ExpiresAt *time.Time           `json:"expires_at,omitempty"`
}

// orderJSON renders an order; withBalance adds the balance method (the
// buyer's balance covers the order).
func (s *Service) orderJSON(po PaymentOrder, withBalance bool) paymentOrderJSON {
	out := paymentOrderJSON{
		Number: string(po.Number), Status: po.Status, BuyerID: po.BuyerID, Amount: po.Amount.Amount(),
		Currency: po.Amount.Currency, ReturnURL: po.ReturnURL, CheckoutURL: s.CheckoutURL(po.Number),
		Methods: []string{}, Items: []salesOrderJSON{}, Attempts: []attemptJSON{},
		CreatedAt: po.CreatedAt, ExpiresAt: po.ExpiresAt,
	}
	for _, mi := range providers.MethodsFor(po.Amount.Currency) {
		out.Methods = append(out.Methods, string(mi.Method))
	}
	if withBalance {
		out.Methods = append(out.Methods, string(MethodBalance))
	}
	for _, so := range po.Items {
		j := salesOrderJSONOf(so)
		j.PaymentOrder, j.BuyerID = "", ""
		out.Items = append(out.Items, j)
	}
	for _, a := range po.Attempts {
		out.Attempts = append(out.Attempts, attemptJSONOf(a))
	}
	return out
}

func salesOrderJSONOf(so orders.SalesOrder) salesOrderJSON {
	return salesOrderJSON{
		Number: string(so.Number), PaymentOrder: string(so.PaymentOrder), Status: so.Status, BuyerID: so.BuyerID,
		SellerID: so.SellerID, Amount: so.Amount.Amount(), Currency: so.Amount.Currency, Description: so.Description,
	}
}

func attemptJSONOf(a Attempt) attemptJSON {
	na := nextActionJSON{Type: a.NextAction.Type}
	if na.Type == "" {
		na.Type = providers.ActionNone
	}
	if a.Status.open() {
		switch na.Type {
		case providers.ActionRedirect:
			na.URL = a.NextAction.URL
		case providers.ActionQR:
			na.Data, na.ImageURL = a.NextAction.QRData, a.NextAction.QRImageURL
		case providers.ActionVoucher:
			na.Number, na.URL = a.NextAction.VoucherNumber, a.NextAction.URL
		}
		if !a.NextAction.ExpiresAt.IsZero() {
			t := a.NextAction.ExpiresAt.UTC()
			na.ExpiresAt = &t
		}
	} else {
		na = nextActionJSON{Type: providers.ActionNone}
	}
	return attemptJSON{
		ID: a.ID, Method: a.Method, Status: a.Status, Provider: a.Provider, ProviderRef: a.ProviderRef,
		Amount: a.Amount.Amount(), Currency: a.Amount.Currency, NextAction: na, FailureReason: a.FailureReason,
		ReplacedBy: a.ReplacedBy, CreatedAt: a.CreatedAt, Route: routeJSONOf(a.Route),
	}
}

func routeJSONOf(d routing.Decision) routeJSON {
	if d.Reason == "" {
		d.Reason = routing.ReasonPrimary
	}
	return routeJSON{Reason: d.Reason, From: d.From, Cause: d.Cause}
}

func (s *Service) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := server.DecodeJSON(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
	cur, err := paygate.ParseCurrency(req.Currency)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	n := NewPaymentOrder{BuyerID: req.BuyerID, Currency: cur, ReturnURL: req.ReturnURL, RequestKey: idempotency.RequestKey(r.Context())}
	for i, it := range req.Items {
		m, err := paygate.ParseMoney(it.Amount, cur)
		if err != nil {
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "items[%d].amount: %s", i, paygate.ErrorMessage(err)))
			return
		}
		n.Items = append(n.Items, NewItem{SellerID: it.SellerID, Amount: m, Description: it.Description})
	}
	po, err := s.Create(r.Context(), n)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/payment-orders/"+string(po.Number))
	server.WriteJSON(w, http.StatusCreated, s.orderJSON(po, s.CanPayWithBalance(r.Context(), po)))
}

func (s *Service) handleGet(w http.ResponseWriter, r *http.Request) {
	p, err := paygate.ParsePaymentOrderNumber(mux.Vars(r)["number"])
	if err != nil {
		server.WriteError(w, r, paygate.Errorf(paygate.ENOTFOUND, "%s", paygate.ErrorMessage(err)))
		return
	}
	po, err := s.Get(r.Context(), p)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	out := s.orderJSON(po, !po.Status.Final() && s.CanPayWithBalance(r.Context(), po))
	if server.CallerRole(r.Context()) != server.RoleMarketplace {
		// The link's token is the buyer's key to pay the order: finance
		// staff read orders to investigate them, never to pay them.
		out.CheckoutURL = ""
	}
	server.WriteJSON(w, http.StatusOK, out)
}

type attemptRequest struct {
	Method string          `json:"method"`
	Payer  providers.Payer `json:"payer"`
}

func (s *Service) handleAttempt(w http.ResponseWriter, r *http.Request) {
	p, err := paygate.ParsePaymentOrderNumber(mux.Vars(r)["number"])
	if err != nil {
		server.WriteError(w, r, paygate.Errorf(paygate.ENOTFOUND, "%s", paygate.ErrorMessage(err)))
		return
	}
	var req attemptRequest
	if err := server.DecodeJSON(r, &req); err != nil {
		server.WriteError(w, r, err)
		return
	}
	// Paying from the buyer's balance moves a user's money on the
	// marketplace's word alone: a full-scope key only.
	if providers.Method(req.Method) == MethodBalance {
		if err := server.NeedScope(r.Context(), server.ScopeFull); err != nil {
			server.WriteError(w, r, err)
			return
		}
	}
	a, err := s.StartAttempt(r.Context(), p, providers.Method(req.Method), req.Payer)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusCreated, attemptJSONOf(a))
}
