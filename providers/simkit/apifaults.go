package simkit

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// APIFault is how a simulator's API misbehaves (Faults.API). Only the API
// suffers it: the hosted pages, the settlement report and the test helpers
// (Approve, Decline, Expire) keep working, so that a test can still settle
// a payment made before the API went wrong.
type APIFault string

// The API faults.
const (
	// APINormal is a well-behaved API.
	APINormal APIFault = ""
	// APIDown closes each API request's connection without an answer: the
	// client sees a transport error (an EOF or a reset), as it would from
	// a host that is down. It is not a refused connection: the simulator
	// shares paygate's listener, which must keep accepting for everything
	// else, so the TCP connection is accepted and then closed.
	APIDown APIFault = "down"
	// APIError answers every API request with a 500 in the provider's
	// error shape, without doing anything.
	APIError APIFault = "error"
	// APISlow waits Faults.APIDelay before handling each API request, then
	// answers it normally (unless the client gave up meanwhile: a request
	// whose client is gone is not handled).
	APISlow APIFault = "slow"
	// APITimeoutAfterCreate handles a payment create in full (the payment
	// exists, its webhooks are sent) but never sends the answer: it holds
	// the connection until the client gives up, Faults.APIDelay passes
	// (DefaultHold if zero) or the simulator closes, then closes it
	// without an answer. The answer of one create is lost once: a retry
	// with the same idempotency key (a replay of the create) is answered,
	// as are lookups (GETs) and every other request, so that a client can
	// find the payment it did not hear about.
	APITimeoutAfterCreate APIFault = "timeout_after_create"
)

// APIFaults returns the API faults, in the order a person would try them.
func APIFaults() []APIFault {
	return []APIFault{APINormal, APIDown, APIError, APISlow, APITimeoutAfterCreate}
}

// DefaultHold is how long APITimeoutAfterCreate holds a connection when
// Faults.APIDelay is zero: longer than any client's timeout paygate uses.
const DefaultHold = 2 * time.Minute

// MaxAPIDelay bounds Faults.APIDelay.
const MaxAPIDelay = 10 * time.Minute

// fieldPath is the log field of a faulted request's path.
const fieldPath = "path"

// maxLostAnswers bounds how many idempotency keys of lost answers the
// middleware remembers; beyond it, it forgets them all.
const maxLostAnswers = 10000

// APIConfig says how a simulator's API is told apart and answers, for
// Deliverer.API.
type APIConfig struct {
	// Prefix is the path prefix of the API routes, such as "/v1/"; other
	// paths (pages, reports) are never faulted.
	Prefix string
	// IsCreate reports whether a request creates a payment; nil means
	// none does.
	IsCreate func(r *http.Request) bool
	// IdempotencyHeader names the request header of the idempotency key
	// ("Idempotency-Key"; Rapyd's "idempotency"), by which a retry of a
	// create whose answer was lost is told apart.
	IdempotencyHeader string
	// Error writes a 500 answer in the provider's error shape.
	Error func(w http.ResponseWriter)
}

// API wraps a simulator's handler in the API faults of the Faults in force
// (Faults.API, set with SetFaults). Requests outside cfg.Prefix pass
// untouched. It is safe for concurrent use; Close releases the
// connections it holds.
func (d *Deliverer) API(next http.Handler, cfg APIConfig) http.Handler {
	var (
		mu   sync.Mutex
		lost = map[string]struct{}{} // idempotency keys of creates whose answer was lost
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, cfg.Prefix) {
			next.ServeHTTP(w, r)
			return
		}
		f := d.Faults()
		switch f.API {
		case APIDown:
			d.log.Info().Str(fieldPath, r.URL.Path).Msg(d.cfg.Name + ": api down by fault injection: connection closed")
			abort(w)
		case APIError:
			cfg.Error(w)
		case APISlow:
			t := time.NewTimer(f.APIDelay)
			defer t.Stop()
			select {
			case <-t.C:
				next.ServeHTTP(w, r)
			case <-r.Context().Done():
			case <-d.done:
				abort(w)
			}
		case APITimeoutAfterCreate:
			if cfg.IsCreate == nil || !cfg.IsCreate(r) {
				next.ServeHTTP(w, r)
				return
			}
			key := strings.TrimSpace(r.Header.Get(cfg.IdempotencyHeader))
			mu.Lock()
			_, replay := lost[key]
			mu.Unlock()
			if key != "" && replay {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(&discard{h: http.Header{}}, r)
			if key != "" {
				mu.Lock()
				if len(lost) >= maxLostAnswers {
					clear(lost)
				}
				lost[key] = struct{}{}
				mu.Unlock()
			}
			d.log.Info().Str(fieldPath, r.URL.Path).Msg(d.cfg.Name + ": payment created, its answer held back by fault injection")
			hold := f.APIDelay
			if hold <= 0 {
				hold = DefaultHold
			}
			t := time.NewTimer(hold)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
			case <-d.done:
			}
			abort(w)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// abort closes the request's connection without an answer: hijacked and
// closed where the server allows it (HTTP/1), else by the panic that
// net/http takes as "abort this response".
func abort(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// discard is a ResponseWriter that throws the answer away.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
