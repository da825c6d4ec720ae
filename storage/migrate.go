package storage

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrations is one package's embedded, forward-only schema history. Files
// in FS (in its folder Dir, "" for the root) are named NNNN_description.sql (run on every backend) or
// NNNN_description.sqlite.sql and NNNN_description.postgres.sql (one per
// backend, same version). Each version is applied once and recorded in the
// schema_migrations table under Component.
type Migrations struct {
	Component string
	FS        fs.FS
	Dir       string
}

type migration struct {
	version int
	name    string
	sql     string
}

// load returns the set's migrations for dialect d, in version order.
func (m Migrations) load(d Dialect) ([]migration, error) {
	dir := m.Dir
	if dir == "" {
		dir = "."
	}
	entries, err := fs.ReadDir(m.FS, dir)
	if err != nil {
		return nil, fmt.Errorf("storage: migrations of %s: %w", m.Component, err)
	}
	byVersion := map[int]migration{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		base := strings.TrimSuffix(name, ".sql")
		switch {
		case strings.HasSuffix(base, ".sqlite"):
			if d != SQLite {
				continue
			}
			base = strings.TrimSuffix(base, ".sqlite")
		case strings.HasSuffix(base, ".postgres"):
			if d != Postgres {
				continue
			}
			base = strings.TrimSuffix(base, ".postgres")
		}
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("storage: migration %s/%s: name must start with a positive version and '_'", m.Component, name)
		}
		if prev, dup := byVersion[v]; dup {
			return nil, fmt.Errorf("storage: migrations %s/%s and %s share version %d", m.Component, prev.name, name, v)
		}
		body, err := fs.ReadFile(m.FS, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("storage: migration %s/%s: %w", m.Component, name, err)
		}
		byVersion[v] = migration{version: v, name: name, sql: string(body)}
	}
	out := make([]migration, 0, len(byVersion))
	for _, mg := range byVersion {
		out = append(out, mg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate applies every pending migration of sets in one write transaction,
// so processes starting at once apply each exactly once: SQLite's BEGIN
// IMMEDIATE and a PostgreSQL advisory lock serialize them. Open calls it with
// Options.Migrations.
func Migrate(ctx context.Context, db *DB, sets []Migrations) error {
	plans := make([][]migration, len(sets))
	for i, set := range sets {
		ms, err := set.load(db.dialect)
		if err != nil {
			return err
		}
		plans[i] = ms
	}
	return db.Update(ctx, func(tx *Tx) error {
		if db.dialect == Postgres {
			// An arbitrary constant: the key of paygate's migration lock.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7061796761746501)`); err != nil {
				return err
			}
		}
		ts := "TIMESTAMP"
		if db.dialect == Postgres {
			ts = "TIMESTAMPTZ"
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			component  TEXT    NOT NULL,
			version    INTEGER NOT NULL,
			name       TEXT    NOT NULL,
			applied_at `+ts+` NOT NULL,
			PRIMARY KEY (component, version))`); err != nil {
			return fmt.Errorf("storage: create schema_migrations: %w", err)
		}
		for i, set := range sets {
			var applied []int
			if err := tx.Select(ctx, &applied, `SELECT version FROM schema_migrations WHERE component = ?`, set.Component); err != nil {
				return err
			}
			done := map[int]bool{}
			for _, v := range applied {
				done[v] = true
			}
			for _, mg := range plans[i] {
				if done[mg.version] {
					continue
				}
				if _, err := tx.Exec(ctx, mg.sql); err != nil {
					return fmt.Errorf("storage: apply migration %s/%s: %w", set.Component, mg.name, err)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)`,
					set.Component, mg.version, mg.name, tx.Now()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
