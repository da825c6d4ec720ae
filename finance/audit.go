package finance

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/paygate/paygate/storage"
)

// ActorHeader names the finance staff member acting, beside the finance
// key: "X-Actor: alice@example.com".
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

// AuditEntry is one finance action.
type AuditEntry struct {
	ID      int64     `json:"id" db:"id"`
	At      time.Time `json:"at" db:"at"`
	Actor   string    `json:"actor" db:"actor"`
	Action  string    `json:"action" db:"action"`
	Subject string    `json:"subject" db:"subject"`
	Before  string    `json:"before" db:"before"`
	After   string    `json:"after" db:"after"`
	Reason  string    `json:"reason" db:"reason"`
}

// Audit appends a finance action to the audit log in tx, the action's own
// transaction, so the log holds exactly the actions that happened.
func Audit(ctx context.Context, tx *storage.Tx, action, subject, before, after, reason string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO audit_log (at, actor, action, subject, before, after, reason) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		tx.Now(), Actor(ctx), action, subject, clip(before, 2000), clip(after, 2000), clip(reason, 1000)); err != nil {
		return fmt.Errorf("finance: audit %s of %s: %w", action, subject, err)
	}
	return nil
}

// AuditLog lists the audit entries of a subject ("" for all), oldest
// first, after the id cursor.
func AuditLog(ctx context.Context, tx *storage.Tx, subject string, after int64, limit int) ([]AuditEntry, error) {
	q := `SELECT id, at, actor, action, subject, before, after, reason FROM audit_log WHERE id > ?`
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
