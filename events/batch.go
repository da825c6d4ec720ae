package events

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/paygate/paygate/storage"
)

// batch is the storage.Stager of events: it writes the events a commit
// staged (Append), numbering each resource's in the order they were
// appended after the resource's last number.
type batch struct{}

// maxBatch bounds the events of one statement (PostgreSQL takes at most
// 65,535 parameters, SQLite 32,766; an event takes 8).
const maxBatch = 1000

// Flush writes items, the events of one commit, in as few statements as
// their number allows.
func (batch) Flush(ctx context.Context, tx *storage.Tx, items []any) error {
	evs := make([]Event, len(items))
	for i, it := range items {
		evs[i] = it.(Event)
	}
	for len(evs) > 0 {
		n := min(len(evs), maxBatch)
		if err := writeBatch(ctx, tx, evs[:n]); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}

// counts returns how many of evs each resource has, the resources sorted
// (so that concurrent transactions lock their counters in one order), and
// back: for each event, how many events of its resource come after it in
// evs (its sequence is the resource's last number less back).
func counts(evs []Event) (resources []string, n map[string]int64, back []int64) {
	n = map[string]int64{}
	for _, e := range evs {
		if n[e.Resource] == 0 {
			resources = append(resources, e.Resource)
		}
		n[e.Resource]++
	}
	sort.Strings(resources)
	seen := map[string]int64{}
	back = make([]int64, len(evs))
	for i, e := range evs {
		seen[e.Resource]++
		back[i] = n[e.Resource] - seen[e.Resource]
	}
	return resources, n, back
}

// writeBatch writes evs in one statement. PostgreSQL takes each
// resource's numbers from its counter (event_resources), whose row lock
// orders two transactions changing one resource; SQLite, which commits one
// writer at a time, from the largest sequence of the resource's events
// (and of its counter, which pruning keeps), and gives positions at insert
// (the commit order; PostgreSQL's are given after commit, see
// Store.Sequence).
func writeBatch(ctx context.Context, tx *storage.Tx, evs []Event) error {
	resources, n, back := counts(evs)
	if tx.Dialect() == storage.Postgres {
		return writePostgres(ctx, tx, evs, resources, n, back)
	}
	return writeSQLite(ctx, tx, evs, n, back)
}

// writeSQLite writes evs in one statement: each row's sequence is the
// resource's last number (the largest of its events' and of its counter,
// which keeps it when they are pruned) plus its rank among the resource's
// events in evs, its position the largest plus its rank in evs. Both are
// read through the (resource, sequence) index and the counter's key, and
// the counter is not written: one statement, where the counter's upsert
// and the insert took two (SQLite cannot write two tables in one).
func writeSQLite(ctx context.Context, tx *storage.Tx, evs []Event, n map[string]int64, back []int64) error {
	q := &strings.Builder{}
	q.WriteString(`INSERT INTO events (id, position, type, resource, sequence, audience, created_at, data)
		SELECT v.column1, m.base + v.column2, v.column3, v.column4,
			MAX(COALESCE((SELECT MAX(e.sequence) FROM events e WHERE e.resource = v.column4), 0),
				COALESCE((SELECT r.last_sequence FROM event_resources r WHERE r.resource = v.column4), 0)) + v.column5,
			v.column6, v.column7, v.column8
		FROM (SELECT COALESCE(MAX(position), 0) AS base FROM events) m, (VALUES `)
	args := make([]any, 0, 8*len(evs))
	for i, e := range evs {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, e.ID, i+1, e.Type, e.Resource, n[e.Resource]-back[i], e.Audience, e.CreatedAt, string(e.Data))
	}
	q.WriteString(`) v ORDER BY v.column2`)
	if _, err := tx.Exec(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("events: write %d events: %w", len(evs), err)
	}
	return nil
}

// writePostgres writes evs in one statement, sent with the COMMIT: the
// counters' upsert (one row per resource, in resources' order, so that
// concurrent transactions lock them in one order) feeds the insert, in the
// order evs were appended.
func writePostgres(ctx context.Context, tx *storage.Tx, evs []Event, resources []string, n map[string]int64, back []int64) error {
	q := &strings.Builder{}
	q.WriteString(`WITH s AS (INSERT INTO event_resources (resource, last_sequence) VALUES `)
	args := make([]any, 0, 2*len(resources)+8*len(evs))
	for i, r := range resources {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?)")
		args = append(args, r, n[r])
	}
	q.WriteString(` ON CONFLICT (resource) DO UPDATE SET last_sequence = event_resources.last_sequence + excluded.last_sequence
			RETURNING resource, last_sequence)
		INSERT INTO events (id, position, type, resource, sequence, audience, created_at, data)
		SELECT v.id, NULL, v.type, v.resource, s.last_sequence - v.back, v.audience, v.created_at, v.data
		FROM (VALUES `)
	for i, e := range evs {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?::bigint, ?::text, ?::text, ?::text, ?::bigint, ?::text, ?::timestamptz, ?::text)")
		args = append(args, i, e.ID, e.Type, e.Resource, back[i], e.Audience, e.CreatedAt, string(e.Data))
	}
	q.WriteString(`) AS v (ord, id, type, resource, back, audience, created_at, data)
		JOIN s ON s.resource = v.resource ORDER BY v.ord`)
	// Nothing reads its result: it goes with the COMMIT, in one round trip.
	if err := tx.ExecAtCommit(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("events: write %d events: %w", len(evs), err)
	}
	return nil
}
