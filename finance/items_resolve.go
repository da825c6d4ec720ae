package finance

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

// GetItem returns one item, ENOTFOUND if there is none with the id.
func GetItem(ctx context.Context, tx *storage.Tx, id int64) (Item, error) {
	var r itemRow
	err := tx.Get(ctx, &r, `SELECT `+itemColumns+` FROM finance_items WHERE id = ?`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, paygate.Errorf(paygate.ENOTFOUND, "finance item %d not found", id)
	}
	if err != nil {
		return Item{}, fmt.Errorf("finance: get item %d: %w", id, err)
	}
	return r.item(), nil
}

// ItemSubject is the audit log subject of an item's actions: its payment
// order when it has one (so the order's trail shows them), else "item <id>".
func ItemSubject(it Item) string {
	if it.PaymentOrder != "" {
		return it.PaymentOrder
	}
	return fmt.Sprintf("item %d", it.ID)
}

// ResolveItem marks an open item resolved in tx and appends the action,
// with its reason and the actor in ctx (WithActor), to the audit log. The
// reason is required (EINVALID without one); an unknown item is ENOTFOUND
// and one already resolved ECONFLICT. It does not commit.
func ResolveItem(ctx context.Context, tx *storage.Tx, id int64, reason string) error {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return paygate.Errorf(paygate.EINVALID, "a reason is required to resolve an item")
	}
	it, err := GetItem(ctx, tx, id)
	if err != nil {
		return err
	}
	if it.Status != Open {
		return paygate.Errorf(paygate.ECONFLICT, "finance item %d is already %s", id, it.Status)
	}
	res, err := tx.Exec(ctx, `UPDATE finance_items SET status = ? WHERE id = ? AND status = ?`, string(Resolved), id, string(Open))
	if err != nil {
		return fmt.Errorf("finance: resolve item %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return paygate.Errorf(paygate.ECONFLICT, "finance item %d was resolved meanwhile", id)
	}
	return Audit(ctx, tx, ActionResolveItem, ItemSubject(it), fmt.Sprintf("item %d %s %s: %s", id, it.Kind, it.Amount, Open),
		string(Resolved), paygate.Cut(reason, 1000))
}
