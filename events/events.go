// Package events is what paygate tells the marketplace: every change the
// marketplace (or finance) cares about is an event, written by Append in
// the database transaction of the change, so that no change exists without
// its event and no event without its change. It owns the events and
// event_resources tables.
//
// An event has an id (evt_…), a type, the resource it is about (a P- or
// K-number, a user id, a finance item, a reconciliation), the resource's
// sequence number (1, 2, 3 … per resource, without gaps: a receiver drops
// an event whose sequence is not above the last it applied) and data, the
// resource as its GET shows it right after the change.
//
// Events are read in commit order by position (see Store.Sequence for why
// that needs care on PostgreSQL), and pushed to the endpoints the roles
// register (see the delivery side of the package).
package events

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "events", FS: migrationFiles, Dir: "migrations"}
}

// Type is what happened, as resource.action.
type Type string

// The event types. Their names are part of the API (/openapi.json).
const (
	PaymentOrderPaid     Type = "payment_order.paid"
	PaymentOrderFailed   Type = "payment_order.failed" // its latest attempt ended without paying; payable again
	PaymentOrderExpired  Type = "payment_order.expired"
	PaymentOrderCanceled Type = "payment_order.canceled"

	SalesOrderPaid            Type = "sales_order.paid" // in escrow, waiting for delivery
	SalesOrderDelivered       Type = "sales_order.delivered"
	SalesOrderCompleted       Type = "sales_order.completed" // confirmed, or by the 72 h timer
	SalesOrderRefundRequested Type = "sales_order.refund_requested"
	SalesOrderRefundRefused   Type = "sales_order.refund_refused"
	SalesOrderDisputed        Type = "sales_order.disputed"
	SalesOrderRefunded        Type = "sales_order.refunded"
	SalesOrderResolved        Type = "sales_order.resolved"

	BalanceCredited Type = "balance.credited"
	BalanceDebited  Type = "balance.debited"

	FinanceItemOpened       Type = "finance_item.opened"      // finance only
	ReconciliationCompleted Type = "reconciliation.completed" // finance only
)

// Types are every event type, in the order the API documents them.
var Types = []Type{
	PaymentOrderPaid, PaymentOrderFailed, PaymentOrderExpired, PaymentOrderCanceled,
	SalesOrderPaid, SalesOrderDelivered, SalesOrderCompleted, SalesOrderRefundRequested,
	SalesOrderRefundRefused, SalesOrderDisputed, SalesOrderRefunded, SalesOrderResolved,
	BalanceCredited, BalanceDebited,
	FinanceItemOpened, ReconciliationCompleted,
}

// Audience is who may read an event: the role of the key that lists it or
// registers an endpoint for it.
type Audience string

// The audiences.
const (
	// Everyone: the marketplace and finance staff.
	Everyone Audience = "all"
	// FinanceOnly: finance items and reconciliations, which the marketplace
	// key cannot read.
	FinanceOnly Audience = "finance"
)

// Audience returns who may read events of type t.
func (t Type) Audience() Audience {
	if strings.HasPrefix(string(t), "finance_item.") || strings.HasPrefix(string(t), "reconciliation.") {
		return FinanceOnly
	}
	return Everyone
}

// Valid reports whether t is one of Types.
func (t Type) Valid() bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// Visible reports whether a caller of role ("marketplace" or "finance")
// may read events of type t.
func (t Type) Visible(role string) bool {
	return t.Audience() == Everyone || role == "finance"
}

// Event is one change.
type Event struct {
	ID        string    `json:"id" db:"id"`
	Type      Type      `json:"type" db:"type"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
	Resource  string    `json:"resource" db:"resource"`
	Sequence  int64     `json:"sequence" db:"sequence"`
	Data      RawJSON   `json:"data" db:"data"`
	// Position is the event's place in commit order (0 until the sequencer
	// has given it one, on PostgreSQL); the events API's cursor.
	Position int64    `json:"-" db:"position"`
	Audience Audience `json:"-" db:"audience"`
}

// RawJSON is an event's data: JSON as written, stored as text.
type RawJSON []byte

// MarshalJSON returns the JSON as is ("null" when empty).
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// Scan reads the stored text.
func (r *RawJSON) Scan(v any) error {
	switch x := v.(type) {
	case string:
		*r = RawJSON(x)
	case []byte:
		*r = append(RawJSON(nil), x...)
	case nil:
		*r = nil
	default:
		return fmt.Errorf("events: data of type %T", v)
	}
	return nil
}

// Append writes the event of a change in tx, the change's own transaction:
// typ happened to resource, which data (the resource as its GET shows it
// after the change) describes. The event is checked and encoded here, and
// staged: the events of one commit (a SQLite group commit holds many
// changes) are written together just before it, in one statement (see
// batch), so that an event costs its change almost no statement of its
// own. Each resource's next sequence numbers are taken then, on
// PostgreSQL under the row lock of its counter, on SQLite under the one
// writer's lock, so two transactions changing one resource number its
// events in their commit order, without gaps. The Event returned has no
// Sequence yet: it is numbered when the transaction commits.
func Append(ctx context.Context, tx *storage.Tx, typ Type, resource string, data any) (Event, error) {
	if !typ.Valid() {
		return Event{}, fmt.Errorf("events: unknown type %q", typ)
	}
	if resource == "" {
		return Event{}, fmt.Errorf("events: %s without a resource", typ)
	}
	if !Writing {
		return Event{Type: typ, CreatedAt: tx.Now(), Resource: resource, Audience: typ.Audience()}, nil
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("events: encode %s of %s: %w", typ, resource, err)
	}
	id, err := newID(tx.Now())
	if err != nil {
		return Event{}, err
	}
	ev := Event{ID: id, Type: typ, CreatedAt: tx.Now(), Resource: resource, Data: raw, Audience: typ.Audience()}
	if err := tx.Stage(batch{}, ev); err != nil {
		return Event{}, fmt.Errorf("events: write %s of %s: %w", typ, resource, err)
	}
	return ev, nil
}

// newID returns a new event id for an event written at t: evt_ and 24 hex
// digits, the first 12 t's milliseconds since 1970 and the other 12 random
// (48 bits: ids of one millisecond collide with odds of about n²/2⁴⁹).
// Ids that grow with time are inserted at the end of the events' primary
// key index, where random ones each dirtied a page of it of their own, to
// be written again at every commit and checkpoint.
func newID(t time.Time) (string, error) {
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("events: id: %w", err)
	}
	return "evt_" + hex.EncodeToString(b[:]), nil
}

// ValidID reports whether s has the form of an event id.
func ValidID(s string) bool {
	if !strings.HasPrefix(s, "evt_") || len(s) != 28 {
		return false
	}
	_, err := hex.DecodeString(s[4:])
	return err == nil
}

// Pattern is an endpoint's or a listing's choice of types: an exact type,
// "resource.*" or "*".
type Pattern string

// Match reports whether t matches p.
func (p Pattern) Match(t Type) bool {
	switch {
	case p == "*":
		return true
	case strings.HasSuffix(string(p), ".*"):
		return strings.HasPrefix(string(t), strings.TrimSuffix(string(p), "*"))
	default:
		return Type(p) == t
	}
}

// ParsePatterns checks a list of patterns: each is "*", a known type, or
// "resource.*" for a resource some type has.
func ParsePatterns(ps []string) ([]Pattern, error) {
	if len(ps) == 0 {
		return nil, paygate.Errorf(paygate.EINVALID, `events must list at least one event type, or "*"`)
	}
	out := make([]Pattern, 0, len(ps))
	for _, s := range ps {
		p := Pattern(s)
		known := false
		for _, t := range Types {
			if p.Match(t) && (p != "*" || s == "*") {
				known = true
				break
			}
		}
		if !known {
			return nil, paygate.Errorf(paygate.EINVALID, "unknown event type %q (a type such as sales_order.paid, a resource such as sales_order.*, or *)", paygate.Clip(s, 60))
		}
		out = append(out, p)
	}
	return out, nil
}
