package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"html"
	"net/http"
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
		var lag float64
		err = db.View(ctx, func(tx *storage.Tx) error {
			lag, err = chain.SealingLag(ctx, tx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if b.Number >= n && lag == 0 {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: last block %+v, sealing lag %gs; want block %d and none unsealed", b, lag, n)
		}
	}
}

// TestAnchorShown: with PAYGATE_ANCHOR_KEY_FILE's key, a reconciliation run
// records the journal's latest sealed block, signed, in its JSON, CSV,
// table and page, and the finance dashboard shows the latest block with
// its key and signature.
func TestAnchorShown(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			key := mustKey(t)
			ta := startAppOn(t, b.DSN(t), appConfig{anchorKey: key})
			err := ta.db.Update(ctx, func(tx *storage.Tx) error {
				_, err := ledger.New(ta.db).Post(ctx, tx, ledger.Transfer("anchor:shown", "anchor test", ledger.ProviderClearing("stripe"),
					ledger.Escrow("K7000002"), paygate.New(900, paygate.EUR)))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			sealed := waitSealed(t, ta.db, 1)

			now := time.Now().UTC().Format("2006-01-02 15:04:05")
			run := ta.reconcile(t, "balance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,payment_intent_id\r\n"+
				fmt.Sprintf("txn_x,%s,charge,5.00,0.30,4.70,eur,pi_not_ours\r\n", now))
			a := run.Anchor
			if a == nil || a.Block < sealed.Number || a.Signature == "" || a.PublicKey != chain.PublicKey(key) {
				t.Fatalf("the run's anchor = %+v, want block %d or later, signed by %s", a, sealed.Number, chain.PublicKey(key))
			}
			blk, ok, err := chain.ByHash(ctx, ta.db, a.Hash)
			if err != nil || !ok || blk.Number != a.Block || !blk.SealedAt.Equal(a.SealedAt) {
				t.Fatalf("the run's anchor %+v is not a block: %+v %v %v", a, blk, ok, err)
			}
			if err := chain.VerifySignature(blk, a.PublicKey, a.Signature); err != nil {
				t.Fatalf("the run's anchor signature: %v", err)
			}
			for _, format := range []string{"csv", "table", "html"} {
				status, raw := ta.reconciliationAs(t, run.ID, format)
				body := html.UnescapeString(raw)
				if status != 200 || !strings.Contains(body, a.Hash) || !strings.Contains(body, a.Signature) {
					t.Fatalf("GET the run as %s = %d, without its anchor %s:\n%s", format, status, a.Hash, body)
				}
			}

			latest := waitSealed(t, ta.db, a.Block+1) // the run's own rows
			fc := newFinanceClient(t, ta)
			if s, _ := fc.login(testFinanceKey); s != http.StatusSeeOther {
				t.Fatalf("login = %d", s)
			}
			page := html.UnescapeString(fc.page("/finance/"))
			for _, want := range []string{fmt.Sprintf("<dd>%d</dd>", latest.Number), latest.Hash, chain.PublicKey(key), chain.Sign(latest, key)} {
				if !strings.Contains(page, want) {
					t.Fatalf("the dashboard does not show %q:\n%s", want, page)
				}
			}
			if page := html.UnescapeString(fc.page("/finance/reconciliations/" + run.ID)); !strings.Contains(page, a.Hash) || !strings.Contains(page, a.Signature) {
				t.Fatalf("the run's page does not show its anchor %s:\n%s", a.Hash, page)
			}
		})
	}
}
