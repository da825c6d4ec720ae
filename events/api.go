package events

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
)

// API serves the events: GET /v1/events and GET /v1/events/{id}, to the
// marketplace and finance keys, each seeing the events its role may read.
type API struct {
	Store *Store
	Keys  server.Keys
}

// DefaultLimit is the page size of GET /v1/events without a limit.
const DefaultLimit = 50

// Routes registers the events API.
func (a *API) Routes(r *mux.Router) {
	read := a.Keys.Require(server.RoleMarketplace, server.RoleFinance)
	r.Handle("/v1/events", read(http.HandlerFunc(a.handleList))).Methods(http.MethodGet)
	r.Handle("/v1/events/{id}", read(http.HandlerFunc(a.handleGet))).Methods(http.MethodGet)
}

// listJSON is a page of events: next is the cursor of the following page
// (pass it as after; the same cursor when the page is empty, so that a
// consumer can keep polling with it).
type listJSON struct {
	Events  []Event `json:"events"`
	Next    string  `json:"next"`
	HasMore bool    `json:"has_more"`
}

func (a *API) handleList(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	evs, next, err := a.Store.List(r.Context(), f)
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	if evs == nil {
		evs = []Event{}
	}
	server.WriteJSON(w, http.StatusOK, listJSON{Events: evs, Next: strconv.FormatInt(next, 10), HasMore: len(evs) == f.Limit})
}

// parseFilter reads after, type (repeatable or comma-separated), resource
// and limit.
func parseFilter(r *http.Request) (Filter, error) {
	q := r.URL.Query()
	f := Filter{Role: string(server.CallerRole(r.Context())), Limit: DefaultLimit, Resource: q.Get("resource")}
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return Filter{}, paygate.Errorf(paygate.EINVALID, "after must be a cursor from an earlier page's next")
		}
		f.After = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return Filter{}, paygate.Errorf(paygate.EINVALID, "limit must be 1 to %d", MaxLimit)
		}
		f.Limit = n
	}
	if len(f.Resource) > 64 {
		return Filter{}, paygate.Errorf(paygate.EINVALID, "resource is at most 64 characters")
	}
	for _, v := range q["type"] {
		for _, s := range strings.Split(v, ",") {
			t := Type(strings.TrimSpace(s))
			if !t.Valid() {
				return Filter{}, paygate.Errorf(paygate.EINVALID, "unknown event type %q", paygate.Clip(string(t), 60))
			}
			if !t.Visible(f.Role) {
				return Filter{}, paygate.Errorf(paygate.EFORBIDDEN, "the %s key may not read %s events", f.Role, t)
			}
			f.Types = append(f.Types, t)
		}
	}
	return f, nil
}

func (a *API) handleGet(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	if !ValidID(id) {
		server.WriteError(w, r, paygate.Errorf(paygate.ENOTFOUND, "no event %s", paygate.Clip(id, 40)))
		return
	}
	ev, err := a.Store.Get(r.Context(), id, string(server.CallerRole(r.Context())))
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, ev)
}
