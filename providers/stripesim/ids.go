package stripesim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns prefix + "_" + n random base-62 characters, like Stripe's
// ids (pi_3Nx…). crypto/rand never fails on supported platforms.
func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return prefix + "_" + string(b)
}

// fingerprint is a stable, non-reversible tag of a value (Stripe's
// payment method fingerprints).
func fingerprint(s string) string {
	sum := sha256.Sum256([]byte("stripesim:" + s))
	return hex.EncodeToString(sum[:8])
}
