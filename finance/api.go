package finance

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

// API serves finance items, user balances, and refunds of balances.
type API struct {
	DB          *storage.DB
	Ledger      *ledger.Ledger
	Keys        server.Keys
	Refunds     *Refunds
	Idempotency func(http.Handler) http.Handler
}

// Routes registers GET /v1/finance/items (finance key), and
// GET /v1/users/{id}/balances and /v1/users/{id}/statement (marketplace or
// finance key).
func (a *API) Routes(r *mux.Router) {
	fin := a.Keys.Require(server.RoleFinance)
	read := a.Keys.Require(server.RoleMarketplace, server.RoleFinance)
	r.Handle("/v1/finance/items", fin(http.HandlerFunc(a.handleItems))).Methods(http.MethodGet)
	r.Handle("/v1/finance/trial-balance", fin(http.HandlerFunc(a.handleTrialBalance))).Methods(http.MethodGet)
	r.Handle("/v1/finance/audit", fin(http.HandlerFunc(a.handleAudit))).Methods(http.MethodGet)
	r.Handle("/v1/users/{id}/balances", read(http.HandlerFunc(a.handleBalances))).Methods(http.MethodGet)
	r.Handle("/v1/users/{id}/statement", read(http.HandlerFunc(a.handleStatement))).Methods(http.MethodGet)
	r.Handle("/v1/users/{id}/refunds-to-source", fin(a.Idempotency(http.HandlerFunc(a.handleRefund)))).Methods(http.MethodPost)
	r.Handle("/v1/users/{id}/refunds-to-source", fin(http.HandlerFunc(a.handleRefunds))).Methods(http.MethodGet)
	r.Handle("/v1/users/{id}/payouts", fin(a.Idempotency(http.HandlerFunc(a.handlePayout)))).Methods(http.MethodPost)
}

// moneyRequest is the amount of a request body.
type moneyRequest struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

func (m moneyRequest) money() (paygate.Money, error) {
	cur, err := apiCurrency(m.Currency)
	if err != nil {
		return paygate.Money{}, err
	}
	amount, err := paygate.ParseMoney(m.Amount, cur)
	if err != nil {
		return paygate.Money{}, paygate.Errorf(paygate.EINVALID, "amount: %s", paygate.ErrorMessage(err))
	}
	return amount, nil
}

// apiCurrency parses a currency of the API: one that a payment method
// takes, so a balance can hold it. paygate.USD, which no method takes
// (provider reports may still carry it), is refused as invalid, as the
// document's Currency enum leaves it out.
func apiCurrency(s string) (paygate.Currency, error) {
	cur, err := paygate.ParseCurrency(s)
	if err != nil {
		return "", err
	}
	if len(providers.MethodsFor(cur)) == 0 {
		return "", paygate.Errorf(paygate.EINVALID, "currency %s is not supported: no payment method takes it", cur)
	}
	return cur, nil
}

// readMoneyRequest reads the user of the path and the JSON body into body,
// and returns the user and the body's amount.
func readMoneyRequest(r *http.Request, body interface{ money() (paygate.Money, error) }) (string, paygate.Money, error) {
	id, _, err := userAccount(r)
	if err != nil {
		return "", paygate.Money{}, err
	}
	if err := server.DecodeJSON(r, body); err != nil {
		return "", paygate.Money{}, err
	}
	amount, err := body.money()
	if err != nil {
		return "", paygate.Money{}, err
	}
	return id, amount, nil
}

type refundRequest struct {
	moneyRequest
	Reason string `json:"reason"`
}

func (a *API) handleRefund(w http.ResponseWriter, r *http.Request) {
	var body refundRequest
	id, amount, err := readMoneyRequest(r, &body)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	refunds, err := a.Refunds.ToSource(r.Context(), idempotency.RequestKey(r.Context()), id, amount, body.Reason)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	for i := range refunds {
		refunds[i].Amount = paygate.New(refunds[i].Minor, amount.Currency).Amount()
	}
	server.WriteJSON(w, http.StatusCreated, map[string]any{"refunds": refunds})
}

func (a *API) handleRefunds(w http.ResponseWriter, r *http.Request) {
	id, _, err := userAccount(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	var refunds []SourceRefund
	err = a.DB.View(r.Context(), func(tx *storage.Tx) error {
		refunds, err = SourceRefunds(r.Context(), tx, id)
		return err
	})
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	if refunds == nil {
		refunds = []SourceRefund{}
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"refunds": refunds})
}

type payoutRequest struct {
	moneyRequest
	Beneficiary   string `json:"beneficiary"`
	BankReference string `json:"bank_reference"`
}

func (a *API) handlePayout(w http.ResponseWriter, r *http.Request) {
	var body payoutRequest
	id, amount, err := readMoneyRequest(r, &body)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	p, err := a.Refunds.ManualPayout(r.Context(), idempotency.RequestKey(r.Context()), id, amount, body.Beneficiary, body.BankReference)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusCreated, p)
}

type itemJSON struct {
	ID           int64            `json:"id"`
	Kind         Kind             `json:"kind"`
	Reference    string           `json:"reference"`
	PaymentOrder string           `json:"payment_order,omitempty"`
	Attempt      string           `json:"attempt,omitempty"`
	Provider     string           `json:"provider,omitempty"`
	PaymentRef   string           `json:"payment_ref,omitempty"`
	Amount       string           `json:"amount"`
	Currency     paygate.Currency `json:"currency"`
	Description  string           `json:"description"`
	Status       Status           `json:"status"`
	CreatedAt    time.Time        `json:"created_at"`
}

// itemJSONOf renders an item as GET /v1/finance/items shows it.
func itemJSONOf(it Item) itemJSON {
	return itemJSON{ID: it.ID, Kind: it.Kind, Reference: it.Reference, PaymentOrder: it.PaymentOrder,
		Attempt: it.Attempt, Provider: it.Provider, PaymentRef: it.PaymentRef, Amount: it.Amount.Amount(), Currency: it.Amount.Currency,
		Description: it.Description, Status: it.Status, CreatedAt: it.CreatedAt}
}

// pageParams reads ?after= and ?limit= (1 to 500, default 100).
func pageParams(r *http.Request) (after int64, limit int, err error) {
	q := r.URL.Query()
	limit = 100
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 500 {
			return 0, 0, paygate.Errorf(paygate.EINVALID, "limit must be 1 to 500")
		}
	}
	if s := q.Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			return 0, 0, paygate.Errorf(paygate.EINVALID, "after must be an item id")
		}
	}
	return after, limit, nil
}

func (a *API) handleItems(w http.ResponseWriter, r *http.Request) {
	status := Status(r.URL.Query().Get("status"))
	switch status {
	case "":
		status = Open
	case "all":
		status = ""
	case Open, Resolved:
	default:
		server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "status must be open, resolved or all"))
		return
	}
	after, limit, err := pageParams(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	var items []Item
	err = a.DB.View(r.Context(), func(tx *storage.Tx) error {
		items, err = Items(r.Context(), tx, status, after, limit)
		return err
	})
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	out := struct {
		Items []itemJSON `json:"items"`
		Next  string     `json:"next,omitempty"`
	}{Items: []itemJSON{}}
	for _, it := range items {
		out.Items = append(out.Items, itemJSONOf(it))
	}
	if len(items) == limit {
		out.Next = strconv.FormatInt(items[len(items)-1].ID, 10)
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// userAccount returns the balance account of the user in the path.
func userAccount(r *http.Request) (string, string, error) {
	id := mux.Vars(r)["id"]
	name := ledger.UserBalance(id)
	if _, err := ledger.Classify(name); err != nil {
		return "", "", paygate.Errorf(paygate.EINVALID, "user id must be 1 to 64 characters of letters, digits, '_', '.' or '-'")
	}
	return id, name, nil
}

type moneyJSON struct {
	Amount   string           `json:"amount"`
	Currency paygate.Currency `json:"currency"`
}

func (a *API) handleBalances(w http.ResponseWriter, r *http.Request) {
	id, name, err := userAccount(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	var bs []ledger.Balance
	err = a.DB.View(r.Context(), func(tx *storage.Tx) error {
		bs, err = a.Ledger.Balances(r.Context(), tx, name)
		return err
	})
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	out := struct {
		UserID   string      `json:"user_id"`
		Balances []moneyJSON `json:"balances"`
	}{UserID: id, Balances: []moneyJSON{}}
	for _, b := range bs {
		m := b.Normal()
		out.Balances = append(out.Balances, moneyJSON{Amount: m.Amount(), Currency: m.Currency})
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// handleStatement answers GET /v1/users/{id}/statement?currency=EUR with
// optional from and to (RFC 3339), cursor and limit; format=csv gives every
// line in the range as CSV instead of a JSON page.
func (a *API) handleStatement(w http.ResponseWriter, r *http.Request) {
	id, name, err := userAccount(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	sq, err := parseStatementQuery(r.URL.Query())
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	var page ledger.StatementPage
	var all []ledger.StatementLine
	err = a.DB.View(r.Context(), func(tx *storage.Tx) error {
		if !sq.csv {
			page, err = a.Ledger.StatementBetween(r.Context(), tx, name, sq.currency, sq.from, sq.to, sq.cursor, sq.limit)
			return err
		}
		// CSV: every page of the range, in one snapshot.
		all, err = a.wholeStatement(r.Context(), tx, name, sq)
		return err
	})
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	if sq.csv {
		writeStatementCSV(w, id, sq.currency, all)
		return
	}
	writeStatementJSON(w, id, sq.currency, page)
}

// statementQuery is what a statement request asks for.
type statementQuery struct {
	currency paygate.Currency
	from, to time.Time // zero: unbounded
	cursor   string
	limit    int // 0: the ledger's default
	csv      bool
}

// parseStatementQuery reads a statement request's currency, from, to,
// cursor, limit and format. Anything malformed is an EINVALID error.
func parseStatementQuery(q url.Values) (statementQuery, error) {
	sq := statementQuery{cursor: q.Get("cursor")}
	var err error
	sq.currency, err = apiCurrency(q.Get("currency"))
	if err != nil {
		return statementQuery{}, paygate.Errorf(paygate.EINVALID, "currency: %s", paygate.ErrorMessage(err))
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &sq.from}, {"to", &sq.to}} {
		if v := q.Get(p.name); v != "" {
			if *p.dst, err = time.Parse(time.RFC3339, v); err != nil {
				return statementQuery{}, paygate.Errorf(paygate.EINVALID, "%s must be an RFC 3339 time such as 2026-11-25T00:00:00Z", p.name)
			}
		}
	}
	if s := q.Get("limit"); s != "" {
		// 0 would be the ledger's default; like the other paged lists,
		// the API takes 1 to the maximum only.
		if sq.limit, err = strconv.Atoi(s); err != nil || sq.limit < 1 || sq.limit > ledger.MaxStatementLimit {
			return statementQuery{}, paygate.Errorf(paygate.EINVALID, "limit must be 1 to %d", ledger.MaxStatementLimit)
		}
	}
	sq.csv = q.Get("format") == "csv"
	if f := q.Get("format"); f != "" && f != "csv" && f != "json" {
		return statementQuery{}, paygate.Errorf(paygate.EINVALID, "format must be json or csv")
	}
	return sq, nil
}

// wholeStatement reads every line of account name in sq's range, page by
// page, in tx.
func (a *API) wholeStatement(ctx context.Context, tx *storage.Tx, name string, sq statementQuery) ([]ledger.StatementLine, error) {
	var all []ledger.StatementLine
	cursor := ""
	for {
		p, err := a.Ledger.StatementBetween(ctx, tx, name, sq.currency, sq.from, sq.to, cursor, ledger.MaxStatementLimit)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Lines...)
		if p.Next == "" {
			return all, nil
		}
		cursor = p.Next
	}
}

// writeStatementCSV writes the lines of user id's statement in cur as a
// CSV attachment.
func writeStatementCSV(w http.ResponseWriter, id string, cur paygate.Currency, lines []ledger.StatementLine) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="statement-%s-%s.csv"`, id, cur))
	cw := csv.NewWriter(w)
	cw.Write([]string{"entry", "created_at", "transaction", "description", "change", "balance", "currency"})
	for _, l := range lines {
		cw.Write([]string{strconv.FormatInt(l.EntryID, 10), l.CreatedAt.Format(time.RFC3339), l.TransactionKey,
			l.Description, l.Change.Amount(), l.Balance.Amount(), string(cur)})
	}
	cw.Flush()
}

// writeStatementJSON writes page of user id's statement in cur as JSON.
func writeStatementJSON(w http.ResponseWriter, id string, cur paygate.Currency, page ledger.StatementPage) {
	type line struct {
		Entry       int64     `json:"entry"`
		Transaction string    `json:"transaction"`
		Description string    `json:"description"`
		Change      string    `json:"change"`
		Balance     string    `json:"balance"`
		CreatedAt   time.Time `json:"created_at"`
	}
	out := struct {
		UserID   string           `json:"user_id"`
		Currency paygate.Currency `json:"currency"`
		Lines    []line           `json:"lines"`
		Next     string           `json:"next,omitempty"`
	}{UserID: id, Currency: cur, Lines: []line{}, Next: page.Next}
	for _, l := range page.Lines {
		out.Lines = append(out.Lines, line{Entry: l.EntryID, Transaction: l.TransactionKey, Description: l.Description,
			Change: l.Change.Amount(), Balance: l.Balance.Amount(), CreatedAt: l.CreatedAt})
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// handleTrialBalance answers the ledger's totals by account type and
// currency, and whether each currency sums to zero.
func (a *API) handleTrialBalance(w http.ResponseWriter, r *http.Request) {
	var lines []ledger.TrialLine
	err := a.DB.View(r.Context(), func(tx *storage.Tx) error {
		var err error
		lines, err = a.Ledger.TrialBalance(r.Context(), tx)
		return err
	})
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	type lineJSON struct {
		Type     ledger.Type      `json:"type"`
		Currency paygate.Currency `json:"currency"`
		Accounts int64            `json:"accounts"`
		Debits   string           `json:"debits"`
		Credits  string           `json:"credits"`
		Balance  string           `json:"balance"`
	}
	type totalJSON struct {
		Currency paygate.Currency `json:"currency"`
		Balance  string           `json:"balance"`
		Balanced bool             `json:"balanced"`
	}
	out := struct {
		Lines  []lineJSON  `json:"lines"`
		Totals []totalJSON `json:"totals"`
	}{Lines: []lineJSON{}, Totals: []totalJSON{}}
	sums := map[paygate.Currency]int64{}
	var order []paygate.Currency
	for _, l := range lines {
		out.Lines = append(out.Lines, lineJSON{Type: l.Type, Currency: l.Currency, Accounts: l.Accounts,
			Debits: l.Debits.Amount(), Credits: l.Credits.Amount(), Balance: l.Balance.Amount()})
		if _, seen := sums[l.Currency]; !seen {
			order = append(order, l.Currency)
		}
		sums[l.Currency] += l.Balance.Minor
	}
	for _, c := range order {
		out.Totals = append(out.Totals, totalJSON{Currency: c, Balance: paygate.New(sums[c], c).Amount(), Balanced: sums[c] == 0})
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// handleAudit lists the audit log, of one subject with ?subject=.
func (a *API) handleAudit(w http.ResponseWriter, r *http.Request) {
	after, limit, err := pageParams(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	var entries []AuditEntry
	err = a.DB.View(r.Context(), func(tx *storage.Tx) error {
		entries, err = AuditLog(r.Context(), tx, r.URL.Query().Get("subject"), after, limit)
		return err
	})
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	if entries == nil {
		entries = []AuditEntry{}
	}
	out := struct {
		Entries []AuditEntry `json:"entries"`
		Next    string       `json:"next,omitempty"`
	}{Entries: entries}
	if len(entries) == limit {
		out.Next = strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	server.WriteJSON(w, http.StatusOK, out)
}
