package apikey

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

func TestKeys(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{Migrations()}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s := New(db)
		clock := time.Now()
		s.now = func() time.Time { return clock }

		token, k, err := s.Create(ctx, server.RoleFinance, "ops-laptop")
		if err != nil {
			t.Fatal(err)
		}
		if !keyPattern.MatchString(token) || !strings.Contains(token, k.ID) {
			t.Fatalf("Create = %q (id %s), want pgk_<id>_<secret>", token, k.ID)
		}
		mk, _, err := s.Create(ctx, server.RoleMarketplace, "shop")
		if err != nil {
			t.Fatal(err)
		}
		secret := token[len(Prefix)+17:]
		// The secret is never stored: no column holds it.
		var n int
		if err := db.View(ctx, func(tx *storage.Tx) error {
			return tx.Get(ctx, &n, `SELECT COUNT(*) FROM api_keys WHERE secret_hash = ? OR name = ? OR id = ?`, []byte(secret), secret, secret)
		}); err != nil || n != 0 {
			t.Fatalf("rows holding the secret = %d, %v; want 0", n, err)
		}

		wrongSecret := token[:len(token)-1] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", token[len(token)-1])+1)%16])
		unknownID := Prefix + "0000000000000000_" + secret
		tests := []struct {
			name, token string
			ok          bool
			role        server.Role
		}{
			{"finance key", token, true, server.RoleFinance},
			{"marketplace key", mk, true, server.RoleMarketplace},
			{"wrong secret", wrongSecret, false, ""},
			{"unknown id", unknownID, false, ""},
			{"malformed", "pgk_" + k.ID, false, ""},
			{"uppercase", strings.ToUpper(token), false, ""},
			{"empty", "", false, ""},
		}
		for _, tt := range tests {
			c, ok, err := s.LookupKey(ctx, tt.token)
			if err != nil || ok != tt.ok || c.Role != tt.role {
				t.Errorf("%s: LookupKey(%q) = %+v, %v, %v; want role %q, %v", tt.name, tt.token, c, ok, err, tt.role, tt.ok)
			}
		}
		if c, _, _ := s.LookupKey(ctx, token); c.KeyID != k.ID || c.KeyName != "ops-laptop" {
			t.Errorf("caller = %+v, want key %s ops-laptop", c, k.ID)
		}

		// last_used_at is written by FlushUsed only, once per flush.
		keys, err := s.List(ctx)
		if err != nil || len(keys) != 2 || keys[0].LastUsedAt != nil {
			t.Fatalf("List before flush = %+v, %v; want 2 keys never used", keys, err)
		}
		if err := s.FlushUsed(ctx); err != nil {
			t.Fatal(err)
		}
		keys, _ = s.List(ctx)
		for _, got := range keys {
			if got.LastUsedAt == nil {
				t.Errorf("key %s: last_used_at not written by FlushUsed", got.ID)
			}
		}

		// A revoked key is refused once the cache entry expires, by another
		// store (another server) too.
		other := New(db)
		other.now = func() time.Time { return clock }
		if _, ok, _ := other.LookupKey(ctx, token); !ok {
			t.Fatal("other store refuses an active key")
		}
		rk, err := s.Revoke(ctx, k.ID)
		if err != nil || rk.Active() {
			t.Fatalf("Revoke = %+v, %v", rk, err)
		}
		if _, ok, _ := s.LookupKey(ctx, token); ok {
			t.Error("the revoking store still accepts the key")
		}
		clock = clock.Add(CacheTTL)
		if _, ok, _ := other.LookupKey(ctx, token); ok {
			t.Errorf("another store accepts a revoked key %v after revocation", CacheTTL)
		}
		if _, err := s.Revoke(ctx, "ffffffffffffffff"); paygate.ErrorCode(err) != paygate.ENOTFOUND {
			t.Errorf("Revoke(unknown) = %v, want not_found", err)
		}
		if _, err := s.Revoke(ctx, token); err != nil {
			t.Errorf("Revoke(whole key, again) = %v, want nil", err)
		}
		for _, bad := range []struct {
			role server.Role
			name string
		}{{"admin", "x"}, {server.RoleFinance, ""}, {server.RoleFinance, "has space"}} {
			if _, _, err := s.Create(ctx, bad.role, bad.name); paygate.ErrorCode(err) != paygate.EINVALID {
				t.Errorf("Create(%q, %q) = %v, want invalid", bad.role, bad.name, err)
			}
		}
	})
}

func BenchmarkLookupCached(b *testing.B) {
	db := storagetest.Backends(b)[0].Open(b, storage.Options{Migrations: []storage.Migrations{Migrations()}})
	s := New(db)
	token, _, err := s.Create(context.Background(), server.RoleMarketplace, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := s.LookupKey(context.Background(), token); !ok {
			b.Fatal("refused")
		}
	}
}

// TestCachedKey: CachedKey knows a key only once LookupKey has read it,
// never reads the database itself, refuses a wrong secret, and forgets the
// key at revocation and after CacheTTL.
func TestCachedKey(t *testing.T) {
	storagetest.Run(t, storage.Options{Migrations: []storage.Migrations{Migrations()}}, func(t *testing.T, db *storage.DB) {
		ctx := context.Background()
		s := New(db)
		clock := time.Now()
		s.now = func() time.Time { return clock }
		token, k, err := s.Create(ctx, server.RoleMarketplace, "shop")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.CachedKey(token); ok {
			t.Fatal("CachedKey knows a key never looked up")
		}
		if _, ok, err := s.LookupKey(ctx, token); !ok || err != nil {
			t.Fatalf("LookupKey = %v, %v", ok, err)
		}
		if c, ok := s.CachedKey(token); !ok || c.KeyID != k.ID || c.Role != server.RoleMarketplace {
			t.Fatalf("CachedKey after the lookup = %+v, %v", c, ok)
		}
		if _, ok := s.CachedKey(token[:len(token)-1] + "x"); ok {
			t.Fatal("CachedKey accepts a wrong secret")
		}
		clock = clock.Add(CacheTTL)
		if _, ok := s.CachedKey(token); ok {
			t.Fatal("CachedKey knows a key CacheTTL after its lookup")
		}
		if _, ok, _ := s.LookupKey(ctx, token); !ok {
			t.Fatal("LookupKey after the TTL refused the key")
		}
		if _, err := s.Revoke(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.CachedKey(token); ok {
			t.Fatal("CachedKey knows a revoked key")
		}
	})
}
