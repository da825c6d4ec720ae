package recon

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "recon", FS: migrationFiles, Dir: "migrations"}
}

// Save stores a run and returns it with its id and time. The run, the items
// of its unmatched lines and its audit entry (naming the caller of ctx,
// finance.Audit) commit together.
func (r *Reconciler) Save(ctx context.Context, rep Report) (ReportJSON, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return ReportJSON{}, err
	}
	out := JSON(rep)
	out.ID = "rec_" + hex.EncodeToString(b)
	err := r.DB.Update(ctx, func(tx *storage.Tx) error {
		out.CreatedAt = tx.Now()
		a, ok, err := chain.ReadAnchor(ctx, tx, r.AnchorKey)
		if err != nil {
			return err
		}
		if ok {
			out.Anchor = &a
		}
		body, err := json.Marshal(out)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO recon_runs (id, provider, lines, unmatched, posted, report, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			out.ID, rep.Provider, rep.Lines, len(rep.Unmatched), rep.Posted, string(body), tx.Now()); err != nil {
			return err
		}
		// Every unmatched line is an open item for finance, once however
		// often the report is imported.
		for _, l := range rep.Unmatched {
			ref := rep.Provider + ":" + l.ID
			if l.ID == "" {
				ref = rep.Provider + ":" + string(l.Status) + ":" + l.PaymentRef
			}
			err := finance.OpenItem(ctx, tx, finance.Item{Kind: finance.UnmatchedLine, Reference: ref, PaymentOrder: l.PaymentOrder,
				Attempt: l.Attempt, Provider: rep.Provider, PaymentRef: l.PaymentRef, Amount: l.Gross,
				Description: fmt.Sprintf("%s line %d (%s %s): %s — %s", rep.Provider, l.Line, l.Category, l.PaymentRef, l.Status, l.Detail)})
			if err != nil {
				return err
			}
		}
		if _, err := events.Append(ctx, tx, events.ReconciliationCompleted, out.ID, out); err != nil {
			return err
		}
		return finance.Audit(ctx, tx, finance.ActionReconcile, rep.Provider+" report", "",
			fmt.Sprintf("run %s: %d lines, %d unmatched, %d ledger transactions posted", out.ID, rep.Lines, len(rep.Unmatched), rep.Posted), "")
	})
	if err != nil {
		return ReportJSON{}, fmt.Errorf("recon: save run: %w", err)
	}
	return out, nil
}

// Load returns a stored run, or ENOTFOUND.
func (r *Reconciler) Load(ctx context.Context, id string) (ReportJSON, error) {
	var body string
	err := r.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &body, `SELECT report FROM recon_runs WHERE id = ?`, id)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return ReportJSON{}, paygate.Errorf(paygate.ENOTFOUND, "no reconciliation %q", id)
	}
	if err != nil {
		return ReportJSON{}, fmt.Errorf("recon: load %s: %w", id, err)
	}
	var out ReportJSON
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		return ReportJSON{}, fmt.Errorf("recon: decode %s: %w", id, err)
	}
	return out, nil
}

var page = template.Must(template.New("run").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reconciliation {{.ID}}</title>
<style>body{font:15px/1.4 system-ui,sans-serif;margin:1rem;color:#1a2433}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border-bottom:1px solid #dde;padding:.3rem .6rem;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#a4161a}</style></head><body>
<h1>Reconciliation {{.ID}}</h1>
<p>{{.Provider}} report, {{.Lines}} lines, {{len .Unmatched}} unmatched, {{.Posted}} ledger transactions posted; run at {{.CreatedAt.Format "2006-01-02 15:04 MST"}}.</p>
<h2>Totals</h2>
<table><tr><th>Status</th><th>Currency</th><th>Lines</th><th>Gross</th><th>Fee</th><th>Net</th></tr>
{{range .Totals}}<tr><td>{{.Status}}</td><td>{{.Currency}}</td><td class="n">{{.Lines}}</td><td class="n">{{.Gross}}</td><td class="n">{{.Fee}}</td><td class="n">{{.Net}}</td></tr>
{{end}}</table>
<h2>Unmatched lines</h2>
{{if .Unmatched}}<table><tr><th>Line</th><th>Status</th><th>Payment</th><th>Gross</th><th>Detail</th></tr>
{{range .Unmatched}}<tr><td class="n">{{.Line}}</td><td class="bad">{{.Status}}</td><td>{{.PaymentRef}}</td><td class="n">{{.Gross}} {{.Currency}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>{{else}}<p>None: every line matched.</p>{{end}}
{{with .Anchor}}<h2>Journal anchor</h2>
<p>The ledger's hash chain when this run was saved: block {{.Block}}, sealed {{.SealedAt.Format "2006-01-02 15:04:05 MST"}},
hash <code>{{.Hash}}</code>{{if .Signature}}, signed by key <code>{{.PublicKey}}</code>: <code>{{.Signature}}</code>{{end}}.
<code>paygate ledger verify --anchor {{.Hash}}</code> proves that the history up to it is unchanged.</p>{{end}}
</body></html>
`))

// WriteHTML writes a run as a page for finance staff.
func WriteHTML(w io.Writer, rep ReportJSON) error { return page.Execute(w, rep) }
