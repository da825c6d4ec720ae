package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/storage"
)

// tableRows are the columns and rows of one table, each value as text:
// bytes as a string, times in UTC RFC 3339, NULL as "<nil>".
type tableRows struct {
	cols []string
	rows [][]string
}

// readTables reads every table of db (SQLite or PostgreSQL) in one read
// transaction, for tests that check that nothing changed or that nothing
// sensitive is stored. Tables in skip are left out, and so is the journal's
// hash chain (its chain_ tables and chain_position columns), which the
// background hasher changes at any moment.
func readTables(tb testing.TB, db *storage.DB, skip ...string) map[string]tableRows {
	tb.Helper()
	ctx := context.Background()
	out := map[string]tableRows{}
	err := db.View(ctx, func(tx *storage.Tx) error {
		var tables []string
		q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
		if tx.Dialect() == storage.Postgres {
			q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
		}
		if err := tx.Select(ctx, &tables, q); err != nil {
			return err
		}
		if len(tables) < 15 {
			return fmt.Errorf("only %d tables found: %v", len(tables), tables)
		}
	next:
		for _, name := range tables {
			for _, s := range skip {
				if s == name {
					continue next
				}
			}
			if strings.HasPrefix(name, "chain_") {
				continue
			}
			rows, err := tx.Query(ctx, `SELECT * FROM "`+name+`"`)
			if err != nil {
				return err
			}
			t := tableRows{}
			t.cols, _ = rows.Columns()
			for rows.Next() {
				vals, err := rows.SliceScan()
				if err != nil {
					rows.Close()
					return err
				}
				row := make([]string, len(vals))
				for i, v := range vals {
					if t.cols[i] == "chain_position" {
						row[i] = "(sealed later)"
						continue
					}
					switch v := v.(type) {
					case []byte:
						row[i] = string(v)
					case time.Time:
						row[i] = v.UTC().Format(time.RFC3339Nano)
					default:
						row[i] = fmt.Sprint(v)
					}
				}
				t.rows = append(t.rows, row)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			out[name] = t
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
