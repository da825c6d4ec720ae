package webhooks

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

// StoredEvent is an inbox row as finance reads it.
type StoredEvent struct {
	ID            int64      `json:"id" db:"id"`
	Provider      string     `json:"provider" db:"provider"`
	EventID       string     `json:"event_id" db:"event_id"`
	Type          string     `json:"type" db:"type"`
	ProviderType  string     `json:"provider_type" db:"provider_type"`
	PaymentRef    string     `json:"payment_ref" db:"payment_ref"`
	PaymentOrder  string     `json:"payment_order" db:"payment_order"`
	Status        string     `json:"status" db:"status"`
	Outcome       string     `json:"outcome" db:"outcome"`
	Verification  string     `json:"verification" db:"verification"`
	ReceivedAt    time.Time  `json:"received_at" db:"received_at"`
	Deliveries    int        `json:"deliveries" db:"deliveries"`
	Attempts      int        `json:"attempts" db:"attempts"`
	LastError     string     `json:"last_error,omitempty" db:"last_error"`
	ProcessedAt   *time.Time `json:"processed_at,omitempty" db:"processed_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty" db:"next_attempt_at"`
}

// EventFilter selects inbox rows.
type EventFilter struct {
	Status       string        // "" for any
	PaymentOrder string        // "" for any
	OlderThan    time.Duration // only events received at least this long ago
	After        int64         // id cursor
	Limit        int
}

// Events lists inbox rows, oldest first.
func (in *Inbox) Events(r *http.Request, f EventFilter) ([]StoredEvent, error) {
	q := `SELECT id, provider, event_id, type, provider_type, payment_ref, payment_order, status, outcome, verification,
			received_at, deliveries, attempts, last_error, processed_at, next_attempt_at
		FROM webhook_events WHERE id > ?`
	args := []any{f.After}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.PaymentOrder != "" {
		q += ` AND payment_order = ?`
		args = append(args, f.PaymentOrder)
	}
	var out []StoredEvent
	err := in.cfg.DB.View(r.Context(), func(tx *storage.Tx) error {
		if f.OlderThan > 0 {
			q += ` AND received_at <= ?`
			args = append(args, tx.Now().Add(-f.OlderThan))
		}
		q += ` ORDER BY id LIMIT ` + strconv.Itoa(f.Limit)
		return tx.Select(r.Context(), &out, q, args...)
	})
	for i := range out {
		out[i].ReceivedAt = out[i].ReceivedAt.UTC()
	}
	return out, err
}

// APIRoutes registers GET /v1/webhooks/events (finance key):
// ?status=pending|failed|deferred|processed, ?payment_order=P…, ?older_than=5m,
// ?after=ID, ?limit=N.
func (in *Inbox) APIRoutes(r *mux.Router, keys server.Keys) {
	r.Handle("/v1/webhooks/events", keys.Require(server.RoleFinance)(http.HandlerFunc(in.handleEvents))).Methods(http.MethodGet)
}

func (in *Inbox) handleEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := EventFilter{Status: q.Get("status"), PaymentOrder: q.Get("payment_order"), Limit: 100}
	switch f.Status {
	case "", StatusPending, StatusFailed, StatusProcessed, StatusDeferred:
	default:
		server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "status must be pending, failed, deferred or processed"))
		return
	}
	if f.PaymentOrder != "" {
		if _, err := paygate.ParsePaymentOrderNumber(f.PaymentOrder); err != nil {
			server.WriteError(w, r, err)
			return
		}
	}
	var err error
	if s := q.Get("older_than"); s != "" {
		if f.OlderThan, err = time.ParseDuration(s); err != nil || f.OlderThan < 0 {
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "older_than must be a duration such as 5m"))
			return
		}
	}
	if s := q.Get("after"); s != "" {
		if f.After, err = strconv.ParseInt(s, 10, 64); err != nil || f.After < 0 {
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "after must be an event id"))
			return
		}
	}
	if s := q.Get("limit"); s != "" {
		if f.Limit, err = strconv.Atoi(s); err != nil || f.Limit < 1 || f.Limit > 500 {
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "limit must be 1 to 500"))
			return
		}
	}
	events, err := in.Events(r, f)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	out := struct {
		Events []StoredEvent `json:"events"`
		Next   string        `json:"next,omitempty"`
	}{Events: events}
	if out.Events == nil {
		out.Events = []StoredEvent{}
	}
	if len(events) == f.Limit {
		out.Next = strconv.FormatInt(events[len(events)-1].ID, 10)
	}
	server.WriteJSON(w, http.StatusOK, out)
}
