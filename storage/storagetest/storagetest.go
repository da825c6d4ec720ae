// Package storagetest runs a test against every database backend: a fresh
// SQLite file always, and PostgreSQL in a fresh schema when
// PAYGATE_TEST_POSTGRES holds a DSN. In CI (CI set) PostgreSQL is required: a
// missing DSN or an unreachable server fails the test instead of skipping it.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/paygate/paygate/storage"
)

// EnvPostgres names the environment variable with the PostgreSQL DSN for
// tests.
const EnvPostgres = "PAYGATE_TEST_POSTGRES"

// Backend makes fresh, empty databases of one kind.
type Backend struct {
	Name string
	// DSN returns the DSN of a new empty database (a SQLite file path, or a
	// PostgreSQL URL whose search_path is a new schema), removed when the
	// test ends.
	DSN func(t testing.TB) string
}

// Open returns a new empty database of the backend with opts' migrations
// applied, closed when the test ends.
func (b Backend) Open(t testing.TB, opts storage.Options) *storage.DB {
	t.Helper()
	dsn := b.DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := storage.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("storagetest: open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Backends returns SQLite and, when configured, PostgreSQL.
func Backends(t testing.TB) []Backend {
	t.Helper()
	bs := []Backend{{Name: "sqlite", DSN: func(t testing.TB) string {
		return filepath.Join(t.TempDir(), "paygate.db")
	}}}
	dsn := os.Getenv(EnvPostgres)
	switch {
	case dsn != "":
		bs = append(bs, Backend{Name: "postgres", DSN: func(t testing.TB) string {
			return postgresSchema(t, dsn)
		}})
	case os.Getenv("CI") != "":
		t.Fatalf("storagetest: CI is set but %s is empty: the PostgreSQL tests must run in CI", EnvPostgres)
	}
	return bs
}

// Run runs fn as a subtest per backend, each with a fresh database.
func Run(t *testing.T, opts storage.Options, fn func(t *testing.T, db *storage.DB)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, b.Open(t, opts))
		})
	}
}

// postgresSchema creates a schema of its own and returns the DSN with that
// schema as its search_path, so parallel tests never see each other's
// tables. The schema is dropped when the test ends.
func postgresSchema(t testing.TB, dsn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sqlx.ConnectContext(ctx, "pgx", dsn)
	if err != nil {
		t.Fatalf("storagetest: PostgreSQL at %s is unreachable: %v", EnvPostgres, err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("storagetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := sqlx.Connect("pgx", dsn)
		if err != nil {
			t.Errorf("storagetest: drop schema %s: %v", schema, err)
			return
		}
		defer c.Close()
		if _, err := c.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("storagetest: drop schema %s: %v", schema, err)
		}
	})
	sdsn, err := WithSearchPath(dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	return sdsn
}

// WithSearchPath returns the PostgreSQL URL dsn with its search_path set to
// schema.
func WithSearchPath(dsn, schema string) (string, error) {
	if !storage.IsPostgresDSN(dsn) {
		return "", fmt.Errorf("storagetest: %s must be a postgres:// URL", EnvPostgres)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("storagetest: parse %s: %w", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
