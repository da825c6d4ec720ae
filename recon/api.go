package recon

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

// Settler settles one attempt from its provider's own status, the way its
// webhook would have (the janitor). PollThen runs then in the transaction
// that stores what the provider said, and not at all when the provider
// says the payment is still pending (nothing is stored).
type Settler interface {
	PollThen(ctx context.Context, a checkout.Attempt, then func(ctx context.Context, tx *storage.Tx) error) (bool, error)
}

// API serves reconciliation to finance staff.
type API struct {
	Reconciler  *Reconciler
	Settler     Settler
	Keys        server.Keys
	Idempotency func(http.Handler) http.Handler
}

// MaxReportBytes bounds an uploaded report.
const MaxReportBytes = 512 << 20

// Routes registers POST /v1/reconciliations?provider=…&format=json|csv|table
// (the report as the body) and POST /v1/finance/settle-payment (finance key).
func (a *API) Routes(r *mux.Router) {
	fin := a.Keys.Require(server.RoleFinance)
	r.Handle("/v1/reconciliations", fin(a.Idempotency(http.HandlerFunc(a.handleRun)))).Methods(http.MethodPost)
	r.Handle("/v1/reconciliations/{id}", fin(http.HandlerFunc(a.handleGetRun))).Methods(http.MethodGet)
	r.Handle("/v1/finance/settle-payment", fin(a.Idempotency(http.HandlerFunc(a.handleSettle)))).Methods(http.MethodPost)
}

func (a *API) handleRun(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format, err := formatOf(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	rep, err := a.Reconciler.Run(r.Context(), q.Get("provider"), r.Body)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	saved, err := a.Reconciler.Save(r.Context(), rep)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/reconciliations/"+saved.ID)
	writeRun(w, r, format, saved)
}

// formatOf reads ?format=json|csv|table|html (default json).
func formatOf(r *http.Request) (string, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "":
		return "json", nil
	case "json", "csv", "table", "html":
		return f, nil
	}
	return "", paygate.Errorf(paygate.EINVALID, "format must be json, csv, table or html")
}

func writeRun(w http.ResponseWriter, r *http.Request, format string, run ReportJSON) {
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		writeCSV(w, run)
	case "table":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeTable(w, run)
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		WriteHTML(w, run)
	default:
		server.WriteJSON(w, http.StatusOK, run)
	}
}

func (a *API) handleGetRun(w http.ResponseWriter, r *http.Request) {
	format, err := formatOf(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	run, err := a.Reconciler.Load(r.Context(), mux.Vars(r)["id"])
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	writeRun(w, r, format, run)
}

type settleRequest struct {
	Provider   string `json:"provider"`
	PaymentRef string `json:"payment_ref"`
}

// validate refuses a request that names no payment, or a provider paygate
// does not have, as invalid: only a well-formed request for a payment
// paygate does not know is a 404.
func (b settleRequest) validate() error {
	switch {
	case b.Provider == "":
		return paygate.Errorf(paygate.EINVALID, "provider is required: stripe or rapyd")
	case b.Provider != providers.Stripe && b.Provider != providers.Rapyd:
		return paygate.Errorf(paygate.EINVALID, "provider must be stripe or rapyd, not %q", paygate.Clip(b.Provider, 40))
	case b.PaymentRef == "":
		return paygate.Errorf(paygate.EINVALID, "payment_ref is required")
	}
	return nil
}

// handleSettle is the one-command fix for a payment the provider settled
// and paygate never heard of: it asks the provider for the payment's status
// and applies it through the inbox, as the lost webhook would have.
func (a *API) handleSettle(w http.ResponseWriter, r *http.Request) {
	var body settleRequest
	if err := server.DecodeJSON(r, &body); err != nil {
		server.WriteError(w, r, err)
		return
	}
	if err := body.validate(); err != nil {
		server.WriteError(w, r, err)
		return
	}
	var att checkout.Attempt
	err := a.Reconciler.DB.View(r.Context(), func(tx *storage.Tx) error {
		var err error
		att, err = a.Reconciler.Checkout.AttemptByRef(r.Context(), tx, body.Provider, body.PaymentRef)
		return err
	})
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	// The audit entry commits with what the provider's status changed;
	// when the provider says the payment is still pending, nothing
	// changes and the request is audited alone.
	var po checkout.PaymentOrder
	audited := false
	audit := func(ctx context.Context, tx *storage.Tx) error {
		var err error
		if po, err = a.Reconciler.Checkout.OrderIn(ctx, tx, att.PaymentOrder); err != nil {
			return err
		}
		audited = true
		return finance.Audit(ctx, tx, finance.ActionSettlePayment, string(po.Number), string(att.Status),
			fmt.Sprintf("%s (from %s's status of %s)", po.Status, body.Provider, body.PaymentRef), "")
	}
	moved, err := a.Settler.PollThen(r.Context(), att, audit)
	if err == nil && !audited {
		err = a.Reconciler.DB.Update(r.Context(), func(tx *storage.Tx) error { return audit(r.Context(), tx) })
	}
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{
		"payment_order": po.Number, "status": po.Status, "attempt": att.ID, "changed": moved,
	})
}

// lineJSON is a report line as the API shows it.
type lineJSON struct {
	Line       int    `json:"line,omitempty"`
	ID         string `json:"id,omitempty"`
	Category   string `json:"category"`
	PaymentRef string `json:"payment_ref,omitempty"`
	Status     Status `json:"status"`
	Gross      string `json:"gross"`
	Fee        string `json:"fee"`
	Net        string `json:"net"`
	Currency   string `json:"currency"`
	Detail     string `json:"detail,omitempty"`
}

type totalJSON struct {
	Status   Status `json:"status"`
	Currency string `json:"currency"`
	Lines    int    `json:"lines"`
	Gross    string `json:"gross"`
	Fee      string `json:"fee"`
	Net      string `json:"net"`
}

// ReportJSON is a report as the API shows it.
type ReportJSON struct {
	ID        string      `json:"id,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	Provider  string      `json:"provider"`
	Lines     int         `json:"lines"`
	Posted    int         `json:"posted"`
	Totals    []totalJSON `json:"totals"`
	Unmatched []lineJSON  `json:"unmatched"`
	// Anchor is the journal's latest sealed block when the run was saved
	// (absent before the first block): what the ledger said then.
	Anchor *chain.Anchor `json:"anchor,omitempty"`
}

func amt(m paygate.Money) string {
	if m.Currency == "" {
		return ""
	}
	return m.Amount()
}

// JSON renders a report for the API.
func JSON(rep Report) ReportJSON {
	out := ReportJSON{Provider: rep.Provider, Lines: rep.Lines, Posted: rep.Posted, Totals: []totalJSON{}, Unmatched: []lineJSON{}}
	for _, t := range rep.Totals {
		out.Totals = append(out.Totals, totalJSON{Status: t.Status, Currency: string(t.Currency), Lines: t.Lines,
			Gross: amt(t.Gross), Fee: amt(t.Fee), Net: amt(t.Net)})
	}
	for _, l := range rep.Unmatched {
		out.Unmatched = append(out.Unmatched, lineJSON{Line: l.Line, ID: l.ID, Category: l.Category, PaymentRef: l.PaymentRef,
			Status: l.Status, Gross: amt(l.Gross), Fee: amt(l.Fee), Net: amt(l.Net), Currency: string(l.Gross.Currency), Detail: l.Detail})
	}
	return out
}

// WriteCSV writes the totals and then every unmatched line.
func WriteCSV(w io.Writer, rep Report) error { return writeCSV(w, JSON(rep)) }

// WriteRunCSV writes a saved run as WriteCSV does, and its journal anchor.
func WriteRunCSV(w io.Writer, run ReportJSON) error { return writeCSV(w, run) }

func writeCSV(w io.Writer, rep ReportJSON) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"kind", "status", "currency", "lines", "line", "id", "category", "payment_ref", "gross", "fee", "net", "detail"})
	for _, t := range rep.Totals {
		cw.Write([]string{"total", string(t.Status), t.Currency, strconv.Itoa(t.Lines), "", "", "", "", t.Gross, t.Fee, t.Net, ""})
	}
	for _, l := range rep.Unmatched {
		cw.Write([]string{"unmatched", string(l.Status), l.Currency, "", strconv.Itoa(l.Line), l.ID, l.Category, l.PaymentRef,
			l.Gross, l.Fee, l.Net, l.Detail})
	}
	if a := rep.Anchor; a != nil {
		cw.Write([]string{"anchor", "", "", "", "", strconv.FormatInt(a.Block, 10), "", "", "", "", "", anchorDetail(*a)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes the report for a person at a terminal.
func WriteTable(w io.Writer, rep Report) error { return writeTable(w, JSON(rep)) }

// WriteRunTable writes a saved run as WriteTable does, and its journal
// anchor.
func WriteRunTable(w io.Writer, run ReportJSON) error { return writeTable(w, run) }

func writeTable(w io.Writer, rep ReportJSON) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "reconciliation of a %s report: %d lines, %d ledger transactions posted now\n\n", rep.Provider, rep.Lines, rep.Posted)
	fmt.Fprintln(tw, "STATUS\tCURRENCY\tLINES\tGROSS\tFEE\tNET")
	for _, t := range rep.Totals {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", t.Status, t.Currency, t.Lines, t.Gross, t.Fee, t.Net)
	}
	if len(rep.Unmatched) > 0 {
		fmt.Fprintln(tw, "\nUNMATCHED\tLINE\tPAYMENT\tGROSS\tDETAIL")
		for _, l := range rep.Unmatched {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s %s\t%s\n", l.Status, l.Line, l.PaymentRef, l.Gross, l.Currency, l.Detail)
		}
	}
	if a := rep.Anchor; a != nil {
		fmt.Fprintf(tw, "\njournal anchor: block %d, %s\n", a.Block, anchorDetail(*a))
	}
	return tw.Flush()
}

// anchorDetail writes an anchor's hash, time and signature on one line.
func anchorDetail(a chain.Anchor) string {
	s := "hash " + a.Hash + " sealed_at " + a.SealedAt.UTC().Format(chain.TimeFormat)
	if a.Signature != "" {
		s += " public_key " + a.PublicKey + " signature " + a.Signature
	}
	return s
}
