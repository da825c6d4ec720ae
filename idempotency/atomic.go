package idempotency

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

// errNotStored rolls back the transaction of a request whose answer is a
// 5xx or a panic: nothing of it is kept, and the key stays free.
var errNotStored = errors.New("idempotency: a 5xx is not stored")

// errRefused undoes what a handler wrote before answering a 4xx.
var errRefused = errors.New("idempotency: refused")

// serveAtomic runs one request in one write transaction (storage.Atomic):
// the claim of the key, the handler — whose Update calls join the
// transaction — and the stored response commit together, and the response
// reaches the client only after that commit. The outcomes:
//   - 2xx: the claim, the handler's changes and the response commit.
//   - 4xx: the claim and the response commit; whatever the handler wrote
//     before refusing is undone (a refusal changes nothing, and a replay of
//     it must not find changes the first answer did not report).
//   - 5xx or a panic: everything rolls back; the key stays free for a retry.
//   - A concurrent duplicate waits for the first one's commit (its claim's
//     INSERT blocks on the uncommitted row on PostgreSQL; SQLite has one
//     writer) and then gets the replay, or a 409 for another body.
//
// A lost race in the handler's transactions (a retryable error) reruns the
// whole request, claim included, from the buffered body with a fresh
// response: handlers must not answer the client other than through w.
func (s *Store) serveAtomic(w http.ResponseWriter, r *http.Request, next http.Handler, role, key, hash string, body []byte) {
	var (
		resp     *buffered
		prev     *record
		panicked any
	)
	err := s.db.Atomic(r.Context(), func(ctx context.Context, tx *storage.Tx) error {
		resp, prev, panicked = nil, nil, nil
		var err error
		if prev, err = s.claimIn(ctx, tx, role, key, hash); err != nil || prev != nil {
			return err
		}
		resp = &buffered{header: http.Header{}}
		req := r.WithContext(context.WithValue(ctx, keyCtx{}, role+":"+key))
		req.Body = io.NopCloser(bytes.NewReader(body))
		err = tx.Savepoint(ctx, func() error {
			panicked = serve(next, resp, req)
			if panicked != nil || resp.code() >= 400 {
				return errRefused
			}
			return nil
		})
		switch {
		case panicked != nil || resp.code() >= 500:
			return errNotStored
		case err != nil && !errors.Is(err, errRefused):
			return err
		}
		return store(ctx, tx, role, key, resp.code(), resp.header.Get("Content-Type"), resp.body.Bytes())
	})
	switch {
	case panicked != nil:
		panic(panicked)
	case err == nil && prev != nil:
		replay(w, prev)
	case err == nil, errors.Is(err, errNotStored):
		resp.writeTo(w)
	default:
		server.WriteError(w, r, err)
	}
}

// serve runs h and returns what it panicked with, if it did: the request
// may run on the database's group committer, whose goroutine must not die.
func serve(h http.Handler, w http.ResponseWriter, r *http.Request) (panicked any) {
	defer func() { panicked = recover() }()
	h.ServeHTTP(w, r)
	return nil
}

// buffered keeps a response until its transaction has committed.
type buffered struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header { return b.header }

func (b *buffered) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *buffered) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// code is the response's status (200 if the handler wrote nothing).
func (b *buffered) code() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

// writeTo sends the response to w.
func (b *buffered) writeTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(b.code())
	w.Write(b.body.Bytes())
}
