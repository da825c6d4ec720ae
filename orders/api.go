package orders

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

// API serves sales orders and their actions.
type API struct {
	Lifecycle   *Lifecycle
	Keys        server.Keys
	Idempotency func(http.Handler) http.Handler
}

// Routes registers GET /v1/sales-orders/{number} (marketplace or finance
// key) and POST /v1/sales-orders/{number}/{action} (marketplace key; resolve:
// finance key).
func (a *API) Routes(r *mux.Router) {
	read := a.Keys.Require(server.RoleMarketplace, server.RoleFinance)
	act := a.Keys.Require(server.RoleMarketplace, server.RoleFinance)
	r.Handle("/v1/sales-orders/{number}", read(http.HandlerFunc(a.handleGet))).Methods(http.MethodGet)
	r.Handle("/v1/finance/escrow", a.Keys.Require(server.RoleFinance)(http.HandlerFunc(a.handleEscrow))).Methods(http.MethodGet)
	r.Handle("/v1/sales-orders/{number}/{action:deliver|confirm|refund|request-refund|agree-refund|refuse-refund|dispute|resolve}",
		act(a.Idempotency(http.HandlerFunc(a.handleAction)))).Methods(http.MethodPost)
}

type historyJSON struct {
	Action      string    `json:"action"`
	Actor       string    `json:"actor"`
	From        Status    `json:"from"`
	To          Status    `json:"to"`
	Reason      string    `json:"reason,omitempty"`
	Description string    `json:"description,omitempty"`
	At          time.Time `json:"at"`
}

// JSON is a sales order as the API shows it.
type JSON struct {
	Number       string           `json:"number"`
	PaymentOrder string           `json:"payment_order"`
	Status       Status           `json:"status"`
	BuyerID      string           `json:"buyer_id"`
	SellerID     string           `json:"seller_id"`
	Amount       string           `json:"amount"`
	Refunded     string           `json:"refunded"`
	Currency     paygate.Currency `json:"currency"`
	Description  string           `json:"description"`
	StatusSince  time.Time        `json:"status_since"`
	History      []historyJSON    `json:"history"`
}

// ToJSON renders a sales order for the API.
func ToJSON(so SalesOrder) JSON {
	out := JSON{
		Number: string(so.Number), PaymentOrder: string(so.PaymentOrder), Status: so.Status, BuyerID: so.BuyerID,
		SellerID: so.SellerID, Amount: so.Amount.Amount(), Refunded: paygate.New(so.Refunded.Minor, so.Amount.Currency).Amount(),
		Currency: so.Amount.Currency, Description: so.Description, StatusSince: so.StatusAt, History: []historyJSON{},
	}
	for _, h := range so.History {
		out.History = append(out.History, historyJSON{Action: h.Action, Actor: h.Actor, From: h.From, To: h.To, Reason: h.Reason, Description: h.Description, At: h.At})
	}
	return out
}

func number(r *http.Request) (paygate.SalesOrderNumber, error) {
	k, err := paygate.ParseSalesOrderNumber(mux.Vars(r)["number"])
	if err != nil {
		return "", paygate.Errorf(paygate.ENOTFOUND, "%s", paygate.ErrorMessage(err))
	}
	return k, nil
}

func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	k, err := number(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	var so SalesOrder
	err = a.Lifecycle.DB.View(r.Context(), func(tx *storage.Tx) error {
		so, err = Get(r.Context(), tx, k)
		return err
	})
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, ToJSON(so))
}

type actionRequest struct {
	UserID       string `json:"user_id"`
	Reason       string `json:"reason"`
	Description  string `json:"description"`
	RefundAmount string `json:"refund_amount"`
}

func (a *API) handleAction(w http.ResponseWriter, r *http.Request) {
	k, err := number(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	action := Action(mux.Vars(r)["action"])
	var body actionRequest
	if err := server.DecodeJSON(r, &body); err != nil {
		server.WriteError(w, r, err)
		return
	}
	role := server.CallerRole(r.Context())
	req := Request{Action: action, Actor: body.UserID, Reason: body.Reason, Description: body.Description}
	switch {
	case action == Resolve && role != server.RoleFinance:
		server.WriteError(w, r, paygate.Errorf(paygate.EFORBIDDEN, "only finance staff resolve disputes"))
		return
	case action != Resolve && role != server.RoleMarketplace:
		server.WriteError(w, r, paygate.Errorf(paygate.EFORBIDDEN, "sales order actions are the marketplace's"))
		return
	case action == Resolve:
		req.Actor = ActorFinance
		var so SalesOrder
		err := a.Lifecycle.DB.View(r.Context(), func(tx *storage.Tx) error {
			so, err = get(r.Context(), tx, k, false)
			return err
		})
		if err != nil {
			server.WriteError(w, r, err)
			return
		}
		if req.RefundAmount, err = paygate.ParseMoney(body.RefundAmount, so.Amount.Currency); err != nil {
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "refund_amount: %s", paygate.ErrorMessage(err)))
			return
		}
	case body.UserID == "":
		server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "user_id is required: the buyer or seller who acts"))
		return
	}
	req.RequestKey = idempotency.RequestKey(r.Context())
	so, err := a.Lifecycle.Act(r.Context(), k, req)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, ToJSON(so))
}

// handleEscrow answers the money held for sales orders, by status and
// currency (finance key).
func (a *API) handleEscrow(w http.ResponseWriter, r *http.Request) {
	var lines []EscrowLine
	err := a.Lifecycle.DB.View(r.Context(), func(tx *storage.Tx) error {
		var err error
		lines, err = EscrowByStatus(r.Context(), tx)
		return err
	})
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	type lineJSON struct {
		Status   Status           `json:"status"`
		Currency paygate.Currency `json:"currency"`
		Orders   int64            `json:"orders"`
		Amount   string           `json:"amount"`
		Held     string           `json:"held"`
	}
	out := struct {
		Lines []lineJSON `json:"lines"`
	}{Lines: []lineJSON{}}
	for _, l := range lines {
		out.Lines = append(out.Lines, lineJSON{Status: l.Status, Currency: l.Amount.Currency, Orders: l.Orders,
			Amount: l.Amount.Amount(), Held: l.Held.Amount()})
	}
	server.WriteJSON(w, http.StatusOK, out)
}
