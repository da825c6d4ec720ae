package finance

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

// ActorHeader is a label the caller may send with a finance action:
// "X-Actor: alice@example.com". It is what the caller asserts, not an
// identity: paygate cannot check it, and anyone holding the key may send
// any name. The audit log records it beside the key the request was
// authenticated with (Audit), which is what paygate knows.
const ActorHeader = "X-Actor"

var actorPattern = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,100}$`)

type actorKey struct{}

// WithActor returns ctx carrying who acts.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns who acts: "finance" and the X-Actor given with the request,
// or "finance" alone.
func Actor(ctx context.Context) string {
	if a, _ := ctx.Value(actorKey{}).(string); a != "" {
		return "finance:" + a
	}
	return "finance"
}

// ActorMiddleware puts a well-formed X-Actor header in the request context.
func ActorMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get(ActorHeader); actorPattern.MatchString(a) {
			r = r.WithContext(WithActor(r.Context(), a))
		}
		next.ServeHTTP(w, r)
	})
}

// AuditEntry is one finance action: Actor is the label the caller gave
// (X-Actor, or the name typed at the finance login), KeyID and KeyName the
// API key the action was authenticated with.
type AuditEntry struct {
	ID    int64     `json:"id" db:"id"`
	At    time.Time `json:"at" db:"at"`
	Actor string    `json:"actor" db:"actor"`
	// KeyID is the public id of the issued key, "" for a static key or an
	// action without a key (a command run on the server).
	KeyID string `json:"key_id" db:"key_id"`
	// KeyName is the issued key's name, the static key's variable
	// (PAYGATE_FINANCE_KEY), or what ran a command without a key.
	KeyName string `json:"key_name" db:"key_name"`
	Action  string `json:"action" db:"action"`
	Subject string `json:"subject" db:"subject"`
	Before  string `json:"before" db:"before"`
	After   string `json:"after" db:"after"`
	Reason  string `json:"reason" db:"reason"`
}

// The actions of the audit log. Audit refuses any other, and the
// document's enum of GET /v1/finance/audit's action lists exactly these
// (a test of cmd/paygate compares them), so a new action is documented.
const (
	ActionResolveDispute = "resolve_dispute"
	ActionRefundToSource = "refund_to_source"
	ActionManualPayout   = "manual_payout"
	ActionSettlePayment  = "settle_payment"
	ActionReconcile      = "reconcile"
	ActionReconcilePost  = "reconcile_post"
	ActionResolveItem    = "resolve_item"
)

// AuditActions lists every action of the audit log.
func AuditActions() []string {
	return []string{ActionResolveDispute, ActionRefundToSource, ActionManualPayout, ActionSettlePayment,
		ActionReconcile, ActionReconcilePost, ActionResolveItem}
}

// Audit appends a finance action to the audit log in tx, the action's own
// transaction, so the log holds exactly the actions that happened. The
// entry names the actor label of ctx (WithActor) and the key of its caller
// (server.CallerOf: the key Require authenticated, or the finance login's).
func Audit(ctx context.Context, tx *storage.Tx, action, subject, before, after, reason string) error {
	if !slices.Contains(AuditActions(), action) {
		return fmt.Errorf("finance: audit: unknown action %q (add it to AuditActions and the document)", action)
	}
	c, _ := server.CallerOf(ctx)
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (at, actor, key_id, key_name, action, subject, before, after, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tx.Now(), Actor(ctx), c.KeyID, paygate.Cut(c.KeyName, 200), action, subject, paygate.Cut(before, 2000), paygate.Cut(after, 2000), paygate.Cut(reason, 1000)); err != nil {
		return fmt.Errorf("finance: audit %s of %s: %w", action, subject, err)
	}
	return nil
}

// AuditLog lists the audit entries of a subject ("" for all), oldest
// first, after the id cursor.
func AuditLog(ctx context.Context, tx *storage.Tx, subject string, after int64, limit int) ([]AuditEntry, error) {
	q := `SELECT id, at, actor, key_id, key_name, action, subject, before, after, reason FROM audit_log WHERE id > ?`
	args := []any{after}
	if subject != "" {
		q += ` AND subject = ?`
		args = append(args, subject)
	}
	var out []AuditEntry
	if err := tx.Select(ctx, &out, q+fmt.Sprintf(` ORDER BY id LIMIT %d`, limit), args...); err != nil {
		return nil, fmt.Errorf("finance: audit log: %w", err)
	}
	for i := range out {
		out[i].At = out[i].At.UTC()
	}
	return out, nil
}
