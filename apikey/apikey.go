// Package apikey issues, checks and revokes the API keys of the
// marketplace and of finance staff. It owns the api_keys table, which keeps
// each key's public id, role and name and the SHA-256 of its secret, never
// the secret itself.
//
// Each key has a scope (server.Scope): read, payments (marketplace keys)
// or full; the server's middleware enforces it.
//
// A key reads "pgk_<id>_<secret>": "pgk_" marks it as a paygate key (for
// secret scanners), <id> is 16 hex digits, public, and the lookup key;
// <secret> is 64 hex digits (32 random bytes). A key is checked by its id,
// then by comparing the SHA-256 of the presented secret with the stored one
// in constant time; an unknown id is compared with a dummy hash, so it takes
// the same path.
//
// Store caches each lookup, found or not, for CacheTTL (5 seconds): a key
// revoked with `paygate keys revoke` is refused by every running server at
// most CacheTTL later, and a busy API reads each key from the database at
// most once per CacheTTL. A key's last_used_at is written by Run, at most
// once a minute, never per request.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "apikey", FS: migrationFiles, Dir: "migrations"}
}

// Prefix starts every issued key.
const Prefix = "pgk_"

// CacheTTL is how long a lookup is cached: the longest a revoked key is
// still accepted by a running server.
const CacheTTL = 5 * time.Second

// UsedEvery is how often Run writes keys' last_used_at.
const UsedEvery = time.Minute

const (
	idBytes     = 8
	secretBytes = 32
	maxCached   = 10_000 // lookups cached at most; past that the cache restarts
	maxNameLen  = 100
)

// keyPattern is the shape of an issued key.
var keyPattern = regexp.MustCompile(`^pgk_([0-9a-f]{16})_([0-9a-f]{64})$`)

// namePattern is what a key's name may be.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9._@+:-]{1,100}$`)

// Key is an issued key, without its secret.
type Key struct {
	ID   string      `json:"id" db:"id"`
	Role server.Role `json:"role" db:"role"`
	Name string      `json:"name" db:"name"`
	// Scope limits what the key may do within its role.
	Scope      server.Scope `json:"scope" db:"scope"`
	CreatedAt  time.Time    `json:"created_at" db:"created_at"`
	RevokedAt  *time.Time   `json:"revoked_at,omitempty" db:"-"`
	LastUsedAt *time.Time   `json:"last_used_at,omitempty" db:"-"`
}

// Active reports whether the key is not revoked.
func (k Key) Active() bool { return k.RevokedAt == nil }

// row is a key as stored.
type row struct {
	Key
	SecretHash []byte       `db:"secret_hash"`
	Revoked    sql.NullTime `db:"revoked_at"`
	LastUsed   sql.NullTime `db:"last_used_at"`
}

func (r row) key() Key {
	k := r.Key
	if r.Revoked.Valid {
		t := r.Revoked.Time.UTC()
		k.RevokedAt = &t
	}
	if r.LastUsed.Valid {
		t := r.LastUsed.Time.UTC()
		k.LastUsedAt = &t
	}
	return k
}

// entry is a cached lookup of one id.
type entry struct {
	hash    [sha256.Size]byte
	caller  server.Caller
	active  bool // false: unknown or revoked; hash is then the dummy
	expires time.Time
}

// Store issues and checks keys. Its methods are safe for concurrent use.
type Store struct {
	db    *storage.DB
	now   func() time.Time
	dummy [sha256.Size]byte

	mu    sync.Mutex
	cache map[string]entry
	used  map[string]time.Time // ids used since the last write, and when
}

// New returns a store on db (opened with Migrations).
func New(db *storage.DB) *Store {
	s := &Store{db: db, now: time.Now, cache: map[string]entry{}, used: map[string]time.Time{}}
	if _, err := rand.Read(s.dummy[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return s
}

// Create issues a full-scope key of role named name and returns it in full,
// the only time it is ever shown, with its record.
func (s *Store) Create(ctx context.Context, role server.Role, name string) (string, Key, error) {
	return s.CreateScoped(ctx, role, server.ScopeFull, name)
}

// CreateScoped is Create for a key of scope: read or full for either role;
// payments for a marketplace key only.
func (s *Store) CreateScoped(ctx context.Context, role server.Role, scope server.Scope, name string) (string, Key, error) {
	if !role.Valid() {
		return "", Key{}, paygate.Errorf(paygate.EINVALID, "apikey: role must be marketplace or finance, not %q", clip(string(role)))
	}
	if !scope.Valid() || scope == server.ScopePayments && role != server.RoleMarketplace {
		return "", Key{}, paygate.Errorf(paygate.EINVALID, "apikey: scope must be read or full (or payments, for a marketplace key), not %q", clip(string(scope)))
	}
	if !namePattern.MatchString(name) {
		return "", Key{}, paygate.Errorf(paygate.EINVALID, "apikey: a name is 1 to %d letters, digits or . _ @ + : -", maxNameLen)
	}
	id, secret := make([]byte, idBytes), make([]byte, secretBytes)
	if _, err := rand.Read(id); err != nil {
		return "", Key{}, fmt.Errorf("apikey: random id: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return "", Key{}, fmt.Errorf("apikey: random secret: %w", err)
	}
	k := Key{ID: hex.EncodeToString(id), Role: role, Name: name, Scope: scope}
	sec := hex.EncodeToString(secret)
	hash := sha256.Sum256([]byte(sec))
	err := s.db.Update(ctx, func(tx *storage.Tx) error {
		k.CreatedAt = tx.Now()
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, role, name, scope, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, string(k.Role), k.Name, string(k.Scope), hash[:], k.CreatedAt)
		return err
	})
	if err != nil {
		return "", Key{}, fmt.Errorf("apikey: create: %w", err)
	}
	return Prefix + k.ID + "_" + sec, k, nil
}

// List returns every key, newest first, without secrets.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	var rows []row
	err := s.db.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &rows, `SELECT id, role, name, scope, secret_hash, created_at, revoked_at, last_used_at
			FROM api_keys ORDER BY created_at DESC, id`)
	})
	if err != nil {
		return nil, fmt.Errorf("apikey: list: %w", err)
	}
	out := make([]Key, len(rows))
	for i, r := range rows {
		out[i] = r.key()
	}
	return out, nil
}

// Revoke revokes the key with id (its public id, or the whole key) and
// returns it. Revoking a revoked key changes nothing. An unknown id is
// ENOTFOUND.
func (s *Store) Revoke(ctx context.Context, id string) (Key, error) {
	if m := keyPattern.FindStringSubmatch(id); m != nil {
		id = m[1]
	}
	var r row
	err := s.db.Update(ctx, func(tx *storage.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, tx.Now(), id); err != nil {
			return err
		}
		err := tx.Get(ctx, &r, `SELECT id, role, name, scope, secret_hash, created_at, revoked_at, last_used_at FROM api_keys WHERE id = ?`, id)
		if errors.Is(err, sql.ErrNoRows) {
			return paygate.Errorf(paygate.ENOTFOUND, "apikey: no key %q", clip(id))
		}
		return err
	})
	if err != nil {
		return Key{}, fmt.Errorf("apikey: revoke: %w", err)
	}
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
	return r.key(), nil
}

// LookupKey returns the caller of token if it is an active issued key
// (server.IssuedKeys). Unknown ids and wrong secrets take the same path:
// one cached lookup, then one constant-time comparison of hashes.
func (s *Store) LookupKey(ctx context.Context, token string) (server.Caller, bool, error) {
	m := keyPattern.FindStringSubmatch(token)
	if m == nil {
		return server.Caller{}, false, nil
	}
	id, secret := m[1], m[2]
	e, err := s.lookup(ctx, id)
	if err != nil {
		return server.Caller{}, false, err
	}
	if !e.matches(secret) {
		return server.Caller{}, false, nil
	}
	s.mu.Lock()
	if _, seen := s.used[id]; !seen {
		s.used[id] = s.now()
	}
	s.mu.Unlock()
	return e.caller, true, nil
}

// CachedKey returns the caller of token if it is an active issued key
// found in the cache (looked up in the last CacheTTL), without reading the
// database (server.IssuedKeys).
func (s *Store) CachedKey(token string) (server.Caller, bool) {
	m := keyPattern.FindStringSubmatch(token)
	if m == nil {
		return server.Caller{}, false
	}
	s.mu.Lock()
	e, ok := s.cache[m[1]]
	s.mu.Unlock()
	if !ok || !s.now().Before(e.expires) || !e.matches(m[2]) {
		return server.Caller{}, false
	}
	return e.caller, true
}

// matches reports whether secret is the active key's secret, comparing
// hashes in constant time (an unknown id's entry holds the dummy hash).
func (e entry) matches(secret string) bool {
	presented := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(presented[:], e.hash[:]) == 1 && e.active
}

// lookup returns the cached entry of id, reading it from the database when
// it is not cached or has expired.
func (s *Store) lookup(ctx context.Context, id string) (entry, error) {
	now := s.now()
	s.mu.Lock()
	e, ok := s.cache[id]
	s.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	var r row
	err := s.db.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &r, `SELECT id, role, name, scope, secret_hash, created_at, revoked_at, last_used_at FROM api_keys WHERE id = ?`, id)
	})
	e = entry{hash: s.dummy, expires: now.Add(CacheTTL)}
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return entry{}, fmt.Errorf("apikey: look up %s: %w", id, err)
	case len(r.SecretHash) == sha256.Size:
		copy(e.hash[:], r.SecretHash)
		e.active = !r.Revoked.Valid
		e.caller = server.Caller{Role: r.Role, Scope: r.Scope, KeyID: r.ID, KeyName: r.Name}
	}
	s.mu.Lock()
	if len(s.cache) >= maxCached {
		s.cache = map[string]entry{}
	}
	s.cache[id] = e
	s.mu.Unlock()
	return e, nil
}

// Active reports whether the issued key with id is active, through the same
// cache as LookupKey (so a revocation is seen within CacheTTL).
func (s *Store) Active(ctx context.Context, id string) (bool, error) {
	e, err := s.lookup(ctx, id)
	return e.active, err
}

// FlushUsed writes the last_used_at of the keys used since the last call,
// in one transaction.
func (s *Store) FlushUsed(ctx context.Context) error {
	s.mu.Lock()
	used := s.used
	s.used = map[string]time.Time{}
	s.mu.Unlock()
	if len(used) == 0 {
		return nil
	}
	err := s.db.Update(ctx, func(tx *storage.Tx) error {
		for id, at := range used {
			if _, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
				at.UTC(), id, at.UTC()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apikey: record last use: %w", err)
	}
	return nil
}

// Run writes last_used_at every interval (UsedEvery when 0) until ctx is
// done, then once more. Errors go to report, which may be nil.
func (s *Store) Run(ctx context.Context, interval time.Duration, report func(error)) {
	if interval <= 0 {
		interval = UsedEvery
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.FlushUsed(context.WithoutCancel(ctx)); err != nil && report != nil {
				report(err)
			}
			return
		case <-t.C:
			if err := s.FlushUsed(ctx); err != nil && report != nil {
				report(err)
			}
		}
	}
}

// clip shortens s for an error message.
func clip(s string) string { return paygate.Clip(strings.ToValidUTF8(s, "?"), 40) }
