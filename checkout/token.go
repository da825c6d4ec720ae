package checkout

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/storage"
)

// Token signs a payment order number for its checkout link: only the
// server can make it, so a link cannot be guessed from a P-number.
func (s *Service) Token(p paygate.PaymentOrderNumber) string {
	return s.sign("checkout|" + string(p))
}

// ValidToken reports whether token is the checkout token of p, in constant
// time.
func (s *Service) ValidToken(p paygate.PaymentOrderNumber, token string) bool {
	return hmac.Equal([]byte(token), []byte(s.Token(p)))
}

func (s *Service) sign(msg string) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// loadSecret returns the configured secret, or the database's, made on
// first use, so links stay valid across restarts and instances.
func (s *Service) loadSecret(ctx context.Context) ([]byte, error) {
	if s.cfg.Secret != "" {
		return []byte(s.cfg.Secret), nil
	}
	var secret string
	err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		err := tx.Get(ctx, &secret, `SELECT secret FROM checkout_secrets WHERE id = 1`)
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		b := make([]byte, 32)
		if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
			return err
		}
		secret = hex.EncodeToString(b)
		if _, err := tx.Exec(ctx, `INSERT INTO checkout_secrets (id, secret, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`,
			secret, tx.Now()); err != nil {
			return err
		}
		return tx.Get(ctx, &secret, `SELECT secret FROM checkout_secrets WHERE id = 1`)
	})
	if err != nil {
		return nil, fmt.Errorf("checkout: load the link secret: %w", err)
	}
	return []byte(secret), nil
}
