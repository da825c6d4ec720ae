package delivery_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
)

// TestClaimIgnoresBacklog: a worker's claim costs about the same behind a
// backlog of 20,000 deliveries as behind none, because it reads only the
// heads of the streams (one per endpoint and resource), and what it claims
// are heads: the first event of each resource, never two of one resource.
func TestClaimIgnoresBacklog(t *testing.T) {
	open(t, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s := newService(db, nil)
		if _, err := s.Create(ctx, "marketplace", delivery.NewEndpoint{URL: "http://127.0.0.1:9/", Events: []string{"*"}}); err != nil {
			t.Fatal(err)
		}
		appendMany := func(n, resources int) {
			for i := 0; i < n; i += 1000 {
				err := db.Update(ctx, func(tx *storage.Tx) error {
					for j := i; j < min(n, i+1000); j++ {
						if _, err := events.Append(ctx, tx, events.SalesOrderPaid, fmt.Sprintf("K%07d", j%resources), nil); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			for more := true; more; {
				var err error
				if _, more, err = s.Dispatch(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The median of 7 claims of 50, each checked: heads only.
		claim := func() time.Duration {
			var ds []time.Duration
			for range 7 {
				evs, took, err := s.ClaimAndRelease(ctx, 50)
				ds = append(ds, took)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != 50 {
					t.Fatalf("claimed %d deliveries, want 50", len(evs))
				}
				seen := map[string]bool{}
				for _, ev := range evs {
					if ev.Sequence != 1 || seen[ev.Resource] {
						t.Fatalf("claimed %s #%d, not the head of its resource", ev.Resource, ev.Sequence)
					}
					seen[ev.Resource] = true
				}
			}
			slices.Sort(ds)
			return ds[len(ds)/2]
		}
		appendMany(200, 200)
		shallow := claim()
		appendMany(20000, 200)
		if db.Dialect() == storage.Postgres {
			// The statistics as autovacuum soon has them: without them
			// the plans cached while the tables were small (the events'
			// lookup by id as a scan) outlive the growth.
			err := db.Update(ctx, func(tx *storage.Tx) error {
				_, err := tx.Exec(ctx, `ANALYZE events, webhook_deliveries`)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		deep := claim()
		t.Logf("claim of 50: %s behind 200 deliveries, %s behind 20,200", shallow, deep)
		// Pruning (nothing is old enough) leaves every head claimable.
		if _, err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		if evs, _, err := s.ClaimAndRelease(ctx, 500); err != nil || len(evs) != 200 {
			t.Fatalf("after pruning, %d heads claimable (%v), want 200", len(evs), err)
		}
		if deep > 4*shallow+25*time.Millisecond {
			t.Errorf("a claim took %s behind 20,200 deliveries and %s behind 200: it examines the backlog", deep, shallow)
		}
	})
}
