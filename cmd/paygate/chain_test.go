package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/storage/storagetest"
)

// TestLedgerAnchor: paygate serve's hasher seals what is posted (its
// metrics show the blocks and no lag); `paygate ledger anchor` prints the
// latest block, signed with PAYGATE_ANCHOR_KEY_FILE; `ledger verify
// --anchor` proves it (and its signature), fails for a hash no block has,
// and fails once a sealed amount is changed behind paygate's back.
func TestLedgerAnchor(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.DSN(t)
			ta := startAppOn(t, dsn, appConfig{})
			l := ledger.New(ta.db)
			post := func(key string, amount int64) {
				t.Helper()
				err := ta.db.Update(ctx, func(tx *storage.Tx) error {
					_, err := l.Post(ctx, tx, ledger.Transfer(key, "anchor test", ledger.ProviderClearing("stripe"), ledger.Escrow("K7000001"), paygate.New(amount, paygate.EUR)))
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			post("anchor:1", 500)
			first := waitSealed(t, ta.db, 1)
			checkMetrics(t, ta.url, map[string]string{"paygate_chain_sealing_lag_seconds": "0", "paygate_chain_scrape_ok": "1", "paygate_chain_blocks_sealed_total": ""})

			// A signed anchor.
			key := filepath.Join(t.TempDir(), "anchor.pem")
			_, priv, _ := ed25519.GenerateKey(nil)
			der, _ := x509.MarshalPKCS8PrivateKey(priv)
			if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"PAYGATE_DB": dsn, "PAYGATE_ANCHOR_KEY_FILE": key}
			getenv := func(k string) string { return env[k] }
			var out, errOut bytes.Buffer
			if code := run(ctx, []string{"ledger", "anchor"}, getenv, &out, &errOut); code != exitOK {
				t.Fatalf("ledger anchor = %d: %s", code, errOut.String())
			}
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				k, v, _ := strings.Cut(line, " ")
				got[k] = v
			}
			if got["block"] != fmt.Sprint(first.Number) || got["hash"] != first.Hash || got["sealed_at"] != first.SealedAt.Format(chain.TimeFormat) || got["signature"] == "" {
				t.Fatalf("ledger anchor printed %q, want block %d hash %s", out.String(), first.Number, first.Hash)
			}

			// The history grows; the anchor still holds, signature and all.
			post("anchor:2", 700)
			waitSealed(t, ta.db, first.Number+1)
			verify := func(args ...string) (int, string) {
				var out, errOut bytes.Buffer
				code := run(ctx, append([]string{"ledger", "verify"}, args...), getenv, &out, &errOut)
				return code, out.String() + errOut.String()
			}
			if code, out := verify("--anchor", got["hash"], "--anchor-signature", got["signature"], "--anchor-public-key", got["public_key"]); code != exitOK ||
				!strings.Contains(out, "anchor signature: OK") {
				t.Fatalf("verify --anchor = %d:\n%s", code, out)
			}
			if code, out := verify("--anchor", got["hash"], "--anchor-signature", got["signature"], "--anchor-public-key", chain.PublicKey(mustKey(t))); code != exitDrift {
				t.Fatalf("verify with another key's public key = %d, want %d:\n%s", code, exitDrift, out)
			}
			if code, out := verify("--anchor", strings.Repeat("ab", 32)); code != exitDrift || !strings.Contains(out, "no block has this hash") {
				t.Fatalf("verify --anchor of an unknown hash = %d, want %d:\n%s", code, exitDrift, out)
			}

			// A sealed amount changed behind paygate's back.
			err := ta.db.Update(ctx, func(tx *storage.Tx) error {
				q := []string{`DROP TRIGGER ledger_entries_no_update`, `UPDATE ledger_entries SET amount = 5000 WHERE amount = 500`}
				if tx.Dialect() == storage.Postgres {
					q[0] = `ALTER TABLE ledger_entries DISABLE TRIGGER USER`
				}
				for _, s := range q {
					if _, err := tx.Exec(ctx, s); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("block %d (positions", first.Number)
			if code, out := verify("--anchor", got["hash"]); code != exitDrift || !strings.Contains(out, want) {
				t.Fatalf("verify --anchor after tampering = %d, want %d naming %q:\n%s", code, exitDrift, want, out)
			}
		})
	}
}

func mustKey(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitSealed waits for serve's hasher to seal block n and every committed
// journal row, and returns the last block.
func waitSealed(t *testing.T, db *storage.DB, n int64) chain.Block {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _, err := chain.Latest(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		var unsealed int
		err = db.View(ctx, func(tx *storage.Tx) error {
			return tx.Get(ctx, &unsealed, `SELECT (SELECT COUNT(*) FROM ledger_transactions WHERE chain_position IS NULL)
				+ (SELECT COUNT(*) FROM audit_log WHERE chain_position IS NULL) + (SELECT COUNT(*) FROM events WHERE chain_position IS NULL)`)
		})
		if err != nil {
			t.Fatal(err)
		}
		if b.Number >= n && unsealed == 0 {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: last block %+v, %d rows unsealed; want block %d and none unsealed", b, unsealed, n)
		}
	}
}
