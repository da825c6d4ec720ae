package delivery

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

// API serves the webhook endpoints, their deliveries and redelivery, to the
// marketplace and finance keys: each role manages its own endpoints.
type API struct {
	Service     *Service
	Keys        server.Keys
	Idempotency func(http.Handler) http.Handler
}

// Routes registers the API.
func (a *API) Routes(r *mux.Router) {
	keyed := a.Keys.Require(server.RoleMarketplace, server.RoleFinance)
	h := func(f http.HandlerFunc) http.Handler { return keyed(f) }
	post := func(f http.HandlerFunc) http.Handler { return keyed(a.Idempotency(f)) }
	r.Handle("/v1/webhook-endpoints", post(a.handleCreate)).Methods(http.MethodPost)
	r.Handle("/v1/webhook-endpoints", h(a.handleList)).Methods(http.MethodGet)
	r.Handle("/v1/webhook-endpoints/{id}", h(a.handleGet)).Methods(http.MethodGet)
	r.Handle("/v1/webhook-endpoints/{id}", h(a.handleUpdate)).Methods(http.MethodPatch)
	r.Handle("/v1/webhook-endpoints/{id}", h(a.handleDelete)).Methods(http.MethodDelete)
	r.Handle("/v1/webhook-endpoints/{id}/rotate-secret", post(a.handleRotate)).Methods(http.MethodPost)
	r.Handle("/v1/webhook-endpoints/{id}/deliveries", h(a.handleAttempts)).Methods(http.MethodGet)
	r.Handle("/v1/events/{id}/redeliver", post(a.handleRedeliver)).Methods(http.MethodPost)
}

func role(r *http.Request) string { return string(server.CallerRole(r.Context())) }

// endpointID returns the path's endpoint id, or ENOTFOUND for one that
// cannot be.
func endpointID(r *http.Request) (string, error) {
	id := mux.Vars(r)["id"]
	if !ValidEndpointID(id) {
		return "", paygate.Errorf(paygate.ENOTFOUND, "no webhook endpoint %s", paygate.Clip(id, 40))
	}
	return id, nil
}

func (a *API) handleCreate(w http.ResponseWriter, r *http.Request) {
	var in NewEndpoint
	if err := server.DecodeJSON(r, &in); err != nil {
		server.WriteError(w, r, err)
		return
	}
	e, err := a.Service.Create(r.Context(), role(r), in)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusCreated, e)
}

func (a *API) handleList(w http.ResponseWriter, r *http.Request) {
	es, err := a.Service.List(r.Context(), role(r))
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	if es == nil {
		es = []Endpoint{}
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"endpoints": es})
}

func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	a.withID(w, r, func(ctx context.Context, id string) (any, int, error) {
		e, err := a.Service.Get(ctx, role(r), id)
		return e, http.StatusOK, err
	})
}

func (a *API) handleUpdate(w http.ResponseWriter, r *http.Request) {
	a.withID(w, r, func(ctx context.Context, id string) (any, int, error) {
		var p EndpointPatch
		if err := server.DecodeJSON(r, &p); err != nil {
			return nil, 0, err
		}
		e, err := a.Service.Update(ctx, role(r), id, p)
		return e, http.StatusOK, err
	})
}

func (a *API) handleDelete(w http.ResponseWriter, r *http.Request) {
	id, err := endpointID(r)
	if err == nil {
		err = a.Service.Delete(r.Context(), role(r), id)
	}
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) handleRotate(w http.ResponseWriter, r *http.Request) {
	a.withID(w, r, func(ctx context.Context, id string) (any, int, error) {
		e, err := a.Service.RotateSecret(ctx, role(r), id)
		return e, http.StatusOK, err
	})
}

func (a *API) withID(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, id string) (any, int, error)) {
	id, err := endpointID(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	v, status, err := fn(r.Context(), id)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, status, v)
}

// Attempt is one recorded attempt to deliver an event to an endpoint.
type Attempt struct {
	ID          int64     `json:"id" db:"id"`
	EventID     string    `json:"event_id" db:"event_id"`
	EventType   string    `json:"event_type" db:"event_type"`
	Attempt     int       `json:"attempt" db:"attempt"`
	AttemptedAt time.Time `json:"attempted_at" db:"attempted_at"`
	Result      string    `json:"result" db:"result"`
	// StatusCode is the answer's HTTP status, 0 without an answer.
	StatusCode int    `json:"status_code" db:"status_code"`
	DurationMS int64  `json:"duration_ms" db:"duration_ms"`
	Response   string `json:"response" db:"response"`
	Error      string `json:"error" db:"error"`
}

// Attempts returns the endpoint's attempts before the attempt id before (0:
// the latest), newest first.
func (s *Service) Attempts(ctx context.Context, role, id string, before int64, limit int) ([]Attempt, error) {
	var out []Attempt
	err := s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		if _, err := getEndpoint(ctx, tx, role, id, ""); err != nil {
			return err
		}
		if before <= 0 {
			before = 1<<63 - 1
		}
		return tx.Select(ctx, &out, `SELECT id, event_id, event_type, attempt, attempted_at, result, status_code, duration_ms, response, error
			FROM webhook_attempts WHERE endpoint_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, id, before, limit)
	})
	if err != nil {
		return nil, wrap("list attempts", err)
	}
	for i := range out {
		out[i].AttemptedAt = out[i].AttemptedAt.UTC()
	}
	return out, nil
}

// maxAttemptsPage bounds a page of attempts.
const maxAttemptsPage = 100

func (a *API) handleAttempts(w http.ResponseWriter, r *http.Request) {
	id, err := endpointID(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	q := r.URL.Query()
	limit, before := 50, int64(0)
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxAttemptsPage {
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "limit must be 1 to %d", maxAttemptsPage))
			return
		}
	}
	if v := q.Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "before must be the next of an earlier page"))
			return
		}
	}
	as, err := a.Service.Attempts(r.Context(), role(r), id, before, limit)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	if as == nil {
		as = []Attempt{}
	}
	next := ""
	if len(as) == limit {
		next = strconv.FormatInt(as[len(as)-1].ID, 10)
	}
	server.WriteJSON(w, http.StatusOK, map[string]any{"deliveries": as, "next": next, "has_more": next != ""})
}

// Redeliver queues the event again to the caller's endpoints that receive
// it, or to the one endpoint given, and returns the endpoints' ids. A
// delivery already pending starts its retries over, due now.
func (s *Service) Redeliver(ctx context.Context, role, eventID, endpoint string) ([]string, error) {
	ev, err := s.cfg.Events.Get(ctx, eventID, role)
	if err != nil {
		return nil, err
	}
	var targets []Endpoint
	if endpoint != "" {
		if !ValidEndpointID(endpoint) {
			return nil, paygate.Errorf(paygate.ENOTFOUND, "no webhook endpoint %s", paygate.Clip(endpoint, 40))
		}
		e, err := s.Get(ctx, role, endpoint)
		if err != nil {
			return nil, err
		}
		if !e.Matches(ev.Type) {
			return nil, paygate.Errorf(paygate.EINVALID, "webhook endpoint %s does not receive %s events", e.ID, ev.Type)
		}
		targets = []Endpoint{e}
	} else {
		es, err := s.List(ctx, role)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if e.Matches(ev.Type) {
				targets = append(targets, e)
			}
		}
	}
	ids := []string{}
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		ids = ids[:0]
		// Woken before the commit, the worker would find nothing due: this
		// Update may be part of the request's transaction.
		tx.AfterCommit(s.wake)
		for _, e := range targets {
			res, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, resource, sequence, event_created_at, status, next_attempt_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (endpoint_id, event_id) DO UPDATE SET status = excluded.status, attempts = 0,
					generation = webhook_deliveries.generation + 1, next_attempt_at = excluded.next_attempt_at`,
				e.ID, ev.ID, ev.Type, ev.Resource, ev.Sequence, ev.CreatedAt, StatusPending, tx.Now(), tx.Now())
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 {
				ids = append(ids, e.ID)
			}
		}
		// A delivery pending again in a stream without a head becomes it;
		// one behind a head waits for it.
		streams := make([]stream, len(targets))
		for i, e := range targets {
			streams[i] = stream{e.ID, ev.Resource}
		}
		return settle(ctx, tx, streams)
	})
	if err != nil {
		return nil, wrap("redeliver", err)
	}
	return ids, nil
}

func (a *API) handleRedeliver(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if !events.ValidID(id) {
		server.WriteError(w, r, paygate.Errorf(paygate.ENOTFOUND, "no event %s", paygate.Clip(id, 40)))
		return
	}
	var body struct {
		EndpointID string `json:"endpoint_id"`
	}
	// The body is optional: empty means every endpoint of the caller.
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		server.WriteError(w, r, paygate.Errorf(paygate.ETOOLARGE, "request body too large"))
		return
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(raw))
		if err := server.DecodeJSON(r, &body); err != nil {
			server.WriteError(w, r, err)
			return
		}
	}
	ids, err := a.Service.Redeliver(r.Context(), role(r), id, body.EndpointID)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusAccepted, map[string]any{"event_id": id, "endpoints": ids})
}
