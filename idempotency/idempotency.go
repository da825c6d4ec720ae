// Package idempotency makes every POST of the API safe to retry: the
// first response to an Idempotency-Key is stored and replayed for the same
// key and request; the same key with another request is a 409. Keys are per
// caller role. It owns the idempotency_requests table.
package idempotency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "idempotency", FS: migrationFiles, Dir: "migrations"}
}

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// MaxKeyLen bounds a key, as Stripe does.
const MaxKeyLen = 255

// Store keeps the responses.
type Store struct {
	db *storage.DB
	// Lease is how long a first request holds its key before another
	// request may take it over (the first one crashed); default 1 minute.
	Lease time.Duration
	// OneTransaction reports whether a request is run as one write
	// transaction — the claim of its key, everything its handler changes
	// and its stored response commit together — rather than as a claim,
	// the handler's own transactions and the stored response (see
	// Middleware). Nil: no request is. It is called inside the router,
	// so it may look at the matched route.
	OneTransaction func(r *http.Request) bool
}

// New returns a store on db (opened with Migrations).
func New(db *storage.DB) *Store { return &Store{db: db, Lease: time.Minute} }

// record is a stored request.
type record struct {
	RequestHash string        `db:"request_hash"`
	Status      sql.NullInt64 `db:"status"`
	ContentType string        `db:"content_type"`
	Body        []byte        `db:"body"`
	LockedUntil time.Time     `db:"locked_until"`
}

// Middleware requires an Idempotency-Key on the requests it wraps, runs the
// first request of each key and stores its response, and answers a repeat
// of the same request with that response (header Idempotent-Replayed: true).
// A repeat with another method, path or body is a 409, and so is a repeat
// while the first is still running. Responses of 5xx are not stored, so the
// request can be retried. Place it after authentication: keys are per role.
//
// A request that OneTransaction picks runs in one write transaction
// (serveAtomic): after a crash there is either nothing of it or all of it,
// response included. Any other request commits its claim first and its
// response last, each in a transaction of its own, and its handler's
// changes in between; a crash between them leaves a claim without a
// response, which a retry takes over once the lease has run out.
func (s *Store) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(Header)
		switch {
		case key == "":
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "missing %s header: every POST needs one", Header))
			return
		case len(key) > MaxKeyLen:
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "%s is longer than %d bytes", Header, MaxKeyLen))
			return
		case !validKey(key):
			server.WriteError(w, r, paygate.Errorf(paygate.EINVALID, "%s must be UTF-8 text without control characters", Header))
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			server.WriteError(w, r, readError(err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		h := sha256.New()
		fmt.Fprintf(h, "%s %s\n", r.Method, r.URL.RequestURI())
		h.Write(body)
		hash := hex.EncodeToString(h.Sum(nil))
		role := string(server.CallerRole(r.Context()))

		if s.OneTransaction != nil && s.OneTransaction(r) {
			s.serveAtomic(w, r, next, role, key, hash, body)
			return
		}
		prev, err := s.claim(r.Context(), role, key, hash)
		if err != nil {
			server.WriteError(w, r, err)
			return
		}
		if prev != nil {
			replay(w, prev)
			return
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				rec.status = http.StatusInternalServerError // frees the key
				s.finish(context.WithoutCancel(r.Context()), role, key, rec)
				panic(p)
			}
			if err := s.finish(context.WithoutCancel(r.Context()), role, key, rec); err != nil {
				l := server.Logger(r.Context())
				l.Error().Err(err).Msg("store idempotent response")
			}
		}()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), keyCtx{}, role+":"+key)))
	})
}

// replay answers with a stored response.
func replay(w http.ResponseWriter, prev *record) {
	w.Header().Set("Content-Type", prev.ContentType)
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(int(prev.Status.Int64))
	w.Write(prev.Body)
}

// validKey reports whether key is UTF-8 text without control characters:
// what every backend stores as text, and what an error message can quote.
func validKey(key string) bool {
	if !utf8.ValidString(key) {
		return false
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// maxQuoted bounds how much of a key an error message quotes.
const maxQuoted = 40

// quoteKey returns key quoted for an error message, cut after maxQuoted
// bytes (on a rune boundary) and marked with "…".
func quoteKey(key string) string {
	if len(key) <= maxQuoted {
		return strconv.Quote(key)
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(key[n]) {
		n--
	}
	return strconv.Quote(key[:n]) + "…"
}

func readError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return paygate.Errorf(paygate.ETOOLARGE, "request body is larger than %d bytes", tooLarge.Limit)
	}
	return &paygate.Error{Code: paygate.EINVALID, Message: "cannot read the request body", Err: err}
}

// claim takes the key for this request in a transaction of its own, or
// returns the stored response to replay, or an ECONFLICT error.
func (s *Store) claim(ctx context.Context, role, key, hash string) (*record, error) {
	var prev *record
	err := s.db.Update(ctx, func(tx *storage.Tx) error {
		var err error
		prev, err = s.claimIn(ctx, tx, role, key, hash)
		return err
	})
	return prev, err
}

// claimIn takes the key for this request in tx, or returns the stored
// response to replay, or an ECONFLICT error.
func (s *Store) claimIn(ctx context.Context, tx *storage.Tx, role, key, hash string) (*record, error) {
	res, err := tx.Exec(ctx, `INSERT INTO idempotency_requests (role, key, request_hash, created_at, locked_until)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (role, key) DO NOTHING`,
		role, key, hash, tx.Now(), tx.Now().Add(s.Lease))
	if err != nil {
		return nil, fmt.Errorf("idempotency: claim: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil, nil
	}
	var rec record
	if err := tx.Get(ctx, &rec, `SELECT request_hash, status, content_type, body, locked_until
		FROM idempotency_requests WHERE role = ? AND key = ?`, role, key); err != nil {
		return nil, fmt.Errorf("idempotency: read: %w", err)
	}
	switch {
	case rec.RequestHash != hash:
		return nil, paygate.Errorf(paygate.ECONFLICT, "%s %s was used for a different request", Header, quoteKey(key))
	case rec.Status.Valid:
		return &rec, nil
	case rec.LockedUntil.After(tx.Now()):
		return nil, paygate.Errorf(paygate.ECONFLICT, "a request with %s %s is still in progress; retry later", Header, quoteKey(key))
	}
	// The first request died without an answer: take the key over.
	_, err = tx.Exec(ctx, `UPDATE idempotency_requests SET locked_until = ? WHERE role = ? AND key = ?`,
		tx.Now().Add(s.Lease), role, key)
	return nil, err
}

// finish stores the response, or frees the key after a 5xx.
func (s *Store) finish(ctx context.Context, role, key string, rec *recorder) error {
	return s.db.Update(ctx, func(tx *storage.Tx) error {
		if rec.status >= 500 {
			_, err := tx.Exec(ctx, `DELETE FROM idempotency_requests WHERE role = ? AND key = ?`, role, key)
			return err
		}
		return store(ctx, tx, role, key, rec.status, rec.Header().Get("Content-Type"), rec.body.Bytes())
	})
}

// store records the response to the claimed key in tx, with its COMMIT:
// nothing reads it back before, and on PostgreSQL it then costs no round
// trip of its own.
func store(ctx context.Context, tx *storage.Tx, role, key string, status int, contentType string, body []byte) error {
	if err := tx.ExecAtCommit(ctx, `UPDATE idempotency_requests SET status = ?, content_type = ?, body = ? WHERE role = ? AND key = ?`,
		status, contentType, body, role, key); err != nil {
		return fmt.Errorf("idempotency: store the response: %w", err)
	}
	return nil
}

// recorder passes a response through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

type keyCtx struct{}

// RequestKey returns the role-qualified Idempotency-Key of the request being
// handled ("" outside the middleware). A handler whose effect must survive a
// crash between its commit and the stored response records it with what it
// creates, and finds it again when the request is retried.
func RequestKey(ctx context.Context) string {
	k, _ := ctx.Value(keyCtx{}).(string)
	return k
}

// Effect returns what the request of key did, as RecordEffect recorded it
// in the transaction of its move; ok is false if it has done nothing yet.
// A handler that moves money calls it first, in the transaction that would
// move it, and answers a retry with the recorded effect.
func Effect(ctx context.Context, tx *storage.Tx, key string) (result string, ok bool, err error) {
	err = tx.Get(ctx, &result, `SELECT result FROM idempotency_effects WHERE key = ?`, key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("idempotency: effect of %s: %w", quoteKey(key), err)
	}
	return result, true, nil
}

// RecordEffect records in tx, the transaction that moves the money, what
// the request of key did. A concurrent request with the same key that
// recorded first makes it a retryable error: run again, the transaction
// finds that request's effect with Effect.
func RecordEffect(ctx context.Context, tx *storage.Tx, key, result string) error {
	if key == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO idempotency_effects (key, result, created_at) VALUES (?, ?, ?)`, key, result, tx.Now()); err != nil {
		if storage.IsUniqueViolation(err) {
			return storage.Retryable(fmt.Errorf("idempotency: effect of %s recorded concurrently: %w", quoteKey(key), err))
		}
		return fmt.Errorf("idempotency: record the effect of %s: %w", quoteKey(key), err)
	}
	return nil
}
