package chain

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/storage"
)

// AnchorMessage is what an anchor's signature signs: the block's number,
// hash and time, one per line, after a version line.
func (b Block) AnchorMessage() []byte {
	return fmt.Appendf(nil, "paygate anchor v1\nblock %d\nhash %s\nsealed_at %s\n", b.Number, b.Hash, formatTime(b.SealedAt))
}

// Sign signs b's anchor message with key; the signature is in standard
// base64.
func Sign(b Block, key ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, b.AnchorMessage()))
}

// VerifySignature reports whether sig (standard base64) is pub's
// signature of b's anchor message; pub is the raw 32-byte key in standard
// base64, as `paygate ledger anchor` prints it.
func VerifySignature(b Block, pub, sig string) error {
	k, err := base64.StdEncoding.DecodeString(pub)
	if err != nil || len(k) != ed25519.PublicKeySize {
		return errors.New("chain: the public key is not 32 bytes in base64")
	}
	s, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(s) != ed25519.SignatureSize {
		return errors.New("chain: the signature is not 64 bytes in base64")
	}
	if !ed25519.Verify(ed25519.PublicKey(k), b.AnchorMessage(), s) {
		return fmt.Errorf("chain: the signature does not match block %d with hash %s sealed at %s", b.Number, b.Hash, formatTime(b.SealedAt))
	}
	return nil
}

// PublicKey is key's public half in standard base64.
func PublicKey(key ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
}

// ParsePrivateKey reads an Ed25519 private key in PEM (PKCS #8, "PRIVATE
// KEY", as `openssl genpkey -algorithm ed25519` writes it).
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("chain: the anchor key is not a PEM PRIVATE KEY (make one with openssl genpkey -algorithm ed25519)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("chain: the anchor key: %w", err)
	}
	ed, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("chain: the anchor key is a %T, not Ed25519", k)
	}
	return ed, nil
}

// Anchor is the latest sealed block as the finance pages and the
// reconciliation reports show it: its number, hash and time, and, when
// paygate has an anchor key (PAYGATE_ANCHOR_KEY_FILE), the key's public
// half (which identifies it) and its signature of AnchorMessage.
type Anchor struct {
	Block     int64     `json:"block"`
	Hash      string    `json:"hash"`
	SealedAt  time.Time `json:"sealed_at"`
	PublicKey string    `json:"public_key,omitempty"`
	Signature string    `json:"signature,omitempty"`
}

// ReadAnchor returns the last block sealed in tx's view as an anchor,
// signed with key if key is not nil; ok is false when nothing is sealed
// yet.
func ReadAnchor(ctx context.Context, tx *storage.Tx, key ed25519.PrivateKey) (a Anchor, ok bool, err error) {
	b, err := last(ctx, tx)
	if err != nil {
		return Anchor{}, false, fmt.Errorf("chain: anchor: %w", err)
	}
	if b.Number == 0 {
		return Anchor{}, false, nil
	}
	a = Anchor{Block: b.Number, Hash: b.Hash, SealedAt: b.SealedAt.UTC().Truncate(time.Microsecond)}
	if key != nil {
		a.PublicKey, a.Signature = PublicKey(key), Sign(b, key)
	}
	return a, true, nil
}
