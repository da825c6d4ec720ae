// Package stripesim is a built-in simulator of the subset of Stripe's API
// that paygate uses, for the sandbox: with no Stripe credentials,
// `paygate serve` points the production Stripe client (stripe-go v76, only
// its base URL differs) at it, and buyers pay on its hosted pages.
//
// It serves, relative to its mount (paygate mounts it under a prefix such as
// /sandbox/stripe with http.StripPrefix):
//
//   - the API: POST /v1/payment_intents, GET /v1/payment_intents/{id},
//     GET /v1/payment_intents/search (metadata['key']:'value' only), POST
//     /v1/payment_intents/{id}/confirm, POST
//     /v1/payment_intents/{id}/cancel, GET /v1/charges/{id}, POST
//     /v1/refunds and GET /v1/refunds/{id}, form-encoded
//     as stripe-go sends them, answered in the 2023-10-16 JSON shapes, with
//     Bearer authentication, Idempotency-Key replay and Stripe's error
//     bodies;
//   - the buyer's pages: an iDEAL bank page (/ideal/{id}), a PayNow "bank
//     app" page (/paynow/{id}) with the QR code image (/qr/{id}.png and
//     .svg), and a boleto voucher (/boleto/{id}, /boleto/{id}/voucher.pdf),
//     each with sandbox buttons that approve or decline the payment;
//   - the settlement report of what it settled (GET
//     /reports/settlement.csv?from=…&to=…, RFC 3339, without an API key:
//     it is sandbox data), as SettlementReport writes it.
//
// Approve, Decline and Expire are the sandbox's test helpers: they settle a
// payment as the buyer's bank would and send the webhook events Stripe
// would send, signed with the endpoint secret exactly as Stripe signs them.
// Refunds of iDEAL, PayNow, Kakao Pay and Samsung Pay payments succeed at once (charge.refunded and
// refund.updated are sent); a boleto refund is refused, as Stripe has none;
// FailNextRefund makes a refund fail, as a payer's bank may refuse it.
// SetFaults makes the deliveries misbehave as real webhooks do (duplicated,
// reordered, late, lost), and the API as a failing Stripe does (down,
// 500s, slow, a create whose answer is lost: simkit.APIFault), and
// Redeliver resends a payment's events as Stripe's dashboard does. The simulator is a test-mode Stripe: its events
// carry livemode false.
//
// Supported methods are ideal (eur), paynow (sgd), boleto (brl), and
// kakao_pay and samsung_pay (krw, zero-decimal; only under a Stripe-Version
// of 2024-10-28 or later, with Stripe's amount limits), whose redirect goes
// to a wallet page (/wallet/{id}) with approve and decline buttons. State
// lives in memory and is lost when the process ends. Config.Limits bounds
// it: the simulator forgets the oldest settled payment intents (succeeded,
// canceled or failed, every event acknowledged), idempotency keys and
// settlement report lines beyond them, so that a long sandbox run keeps its
// memory flat; Usage counts what it keeps.
package stripesim

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
	"github.com/rs/zerolog"
)

// Config configures a Simulator.
type Config struct {
	// BaseURL is the public URL of the mount, such as
	// "http://127.0.0.1:8080/sandbox/stripe", without a trailing slash. The
	// URLs the API returns (hosted pages, QR images) start with it.
	BaseURL string
	// APIKey is the secret key clients must send as "Authorization: Bearer
	// <key>". A request without it, or with another key, gets Stripe's 401
	// error. An empty APIKey accepts no request.
	APIKey string
	// WebhookURL is where signed events are POSTed, such as
	// "http://127.0.0.1:8080/webhooks/stripe". Empty sends no events.
	WebhookURL string
	// WebhookSecret (whsec_…) signs the events.
	WebhookSecret string
	// HTTPClient delivers webhooks; nil is a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil is time.Now. It also dates webhook signatures,
	// which receivers check against their own clock (Stripe's tolerance is
	// 5 minutes).
	Now func() time.Time
	// Logger receives the simulator's logs.
	Logger zerolog.Logger
	// PayNowMerchant is the merchant name in PayNow QR codes and the payee
	// on boleto vouchers; empty is "PAYGATE SANDBOX".
	PayNowMerchant string
	// PayNowUEN is the UEN that PayNow QR codes pay to; empty is a made-up
	// sandbox UEN.
	PayNowUEN string
	// RetryBackoff is the wait before the second webhook attempt; each
	// later attempt waits twice as long as the one before, up to 8 attempts
	// in all. Zero is 1 s.
	RetryBackoff time.Duration
	// Seed seeds the generator behind Faults.DropRate, so that a run with
	// dropped webhooks can be replayed; 0 is a seed like any other.
	Seed uint64
	// Limits bound what the simulator keeps; the zero Limits is the
	// defaults (simkit.Limits documents each). A payment intent is final
	// when it has succeeded, was canceled, or its last attempt failed or
	// expired (requires_payment_method with a last_payment_error). A
	// forgotten intent is unknown to the API, the pages and Redeliver,
	// with its charge, refunds and the payment methods made for it; its
	// balance changes stay in the settlement report until Limits.ReportLines
	// newer ones push them out.
	Limits Limits
}

// Limits bound what a Simulator keeps in memory (simkit.Limits documents
// each field; rapydsim.Limits is the same type).
type Limits = simkit.Limits

// Usage counts what a Simulator keeps in memory.
type Usage struct {
	Intents         int // payment intents
	Settled         int // of which settled: final, every event acknowledged
	Methods         int // payment methods
	Charges         int
	Refunds         int
	Events          int // events kept for Redeliver
	IdempotencyKeys int
	ReportLines     int // balance changes kept for the settlement report
}

// Simulator is the simulated Stripe API and its hosted pages. Its methods
// are safe for concurrent use. Close stops its background webhook retries.
type Simulator struct {
	cfg     Config
	log     zerolog.Logger
	now     func() time.Time
	client  *http.Client
	pages   *template.Template
	policy  string // the pages' Content-Security-Policy
	handler http.Handler

	mu      sync.Mutex // guards the fields below
	intents map[string]*intent
	methods map[string]*paymentMethod
	charges map[string]*intent // by charge id
	refunds map[string]*refund
	idem    *simkit.Idempotency[idemEntry]
	history map[string][]*simkit.Webhook // by intent id: every event produced, for Redeliver
	retain  *simkit.Retainer             // which intents are kept
	ledger  simkit.Store[balanceChange]  // by balance transaction id: the report's lines
	limits  Limits
	// failRefunds is how many of the next refunds fail (FailNextRefund).
	failRefunds int

	hooks *simkit.Deliverer // the events' delivery, through the Faults in force
}

// idemEntry is the saved result of a request made with an Idempotency-Key,
// kept for Limits.IdempotencyFor (Stripe prunes keys after at least 24
// hours).
type idemEntry struct {
	endpoint    string   // "POST /v1/payment_intents"
	fingerprint [32]byte // SHA-256 of the canonical parameters
	status      int
	body        []byte
}

// maxBody bounds an API request body.
const maxBody = 256 << 10

// New returns a Simulator. It starts nothing; webhook retries start as
// events fail.
func New(cfg Config) *Simulator {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.PayNowMerchant == "" {
		cfg.PayNowMerchant = defaultMerchant
	}
	if cfg.PayNowUEN == "" {
		cfg.PayNowUEN = defaultUEN
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = defaultRetryBackoff
	}
	s := &Simulator{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     cfg.Now,
		client:  cfg.HTTPClient,
		pages:   parsePages(),
		policy:  pagePolicy(),
		intents: make(map[string]*intent),
		methods: make(map[string]*paymentMethod),
		charges: make(map[string]*intent),
		refunds: make(map[string]*refund),
		idem:    simkit.NewIdempotency[idemEntry](cfg.Limits),
		history: make(map[string][]*simkit.Webhook),
		retain:  simkit.NewRetainer(cfg.Limits, cfg.WebhookURL != ""),
		limits:  cfg.Limits.WithDefaults(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	hc := simkit.Config{
		Name:   "stripesim",
		Logger: s.log,
		Fields: simkit.LogFields{ID: fieldEventID, Type: fieldEventType, Ref: fieldPaymentIntent, Attempt: fieldAttempt},
		// Backoff is uncapped: 8 attempts wait at most 64 × RetryBackoff.
		Backoff: cfg.RetryBackoff,
		Seed:    cfg.Seed,
	}
	if cfg.WebhookURL != "" {
		hc.Post, hc.Delivered = s.post, s.delivered
	}
	s.hooks = simkit.New(hc)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payment_intents", s.api(opCreate))
	mux.HandleFunc("GET /v1/payment_intents/search", s.api(opSearch))
	mux.HandleFunc("GET /v1/payment_intents/{id}", s.api(opRetrieve))
	mux.HandleFunc("POST /v1/payment_intents/{id}/confirm", s.api(opConfirm))
	mux.HandleFunc("POST /v1/payment_intents/{id}/cancel", s.api(opCancel))
	mux.HandleFunc("GET /v1/charges/{id}", s.api(opCharge))
	mux.HandleFunc("POST /v1/refunds", s.api(opRefund))
	mux.HandleFunc("GET /v1/refunds/{id}", s.api(opGetRefund))
	mux.HandleFunc("/v1/", s.api(opNotFound))
	mux.HandleFunc("GET /reports/settlement.csv", s.serveReport)
	s.routePages(mux)
	s.handler = s.hooks.API(mux, simkit.APIConfig{
		Prefix: "/v1/",
		IsCreate: func(r *http.Request) bool {
			return r.Method == http.MethodPost && r.URL.Path == "/v1/payment_intents"
		},
		IdempotencyHeader: "Idempotency-Key",
		Error:             s.faultError,
	})
	return s
}

// Handler returns the HTTP handler of the API and the hosted pages, with
// paths relative to the mount.
func (s *Simulator) Handler() http.Handler { return s.handler }

// Close stops the background webhook retries and delayed deliveries,
// abandoning attempts in flight, and waits for them to end. Approve, Decline and Expire still work
// after Close but no longer retry.
func (s *Simulator) Close() { s.hooks.Close() }

// WebhooksIdle waits until the simulator sends and retries nothing in the
// background (every event handed to delivery has had its last attempt), or
// ctx ends, and reports whether it is idle. Tests call it to know that no
// further event is coming.
func (s *Simulator) WebhooksIdle(ctx context.Context) bool { return s.hooks.Idle(ctx) }

// outcome is how a buyer's bank settles a payment.
type outcome int

const (
	outcomeApprove outcome = iota
	outcomeDecline
	outcomeExpire
)

// Approve settles the payment ref as paid, whatever its state (a late
// payment of a canceled or expired intent succeeds it too): the intent
// becomes succeeded with its amount received and a charge, and
// payment_intent.succeeded then charge.succeeded are sent. An unknown ref
// is an ENOTFOUND *paygate.Error.
//
// Each event is delivered once before Approve returns; an event whose
// delivery fails (a network error or an answer other than 2xx) is retried
// in the background until Close, and Approve still returns nil. Faults set
// with SetFaults may duplicate, reorder, delay or drop the events.
func (s *Simulator) Approve(ctx context.Context, ref string) error {
	_, err := s.settle(ctx, ref, outcomeApprove, "")
	return err
}

// Decline settles the payment ref as declined by the buyer's bank: the
// intent goes back to requires_payment_method with a last_payment_error
// (code payment_method_provider_decline) and payment_intent.payment_failed
// is sent. A succeeded or canceled intent keeps its state, but the event
// is still sent (as a late failure would arrive), its object showing the
// failed attempt. Errors and delivery are as for Approve.
func (s *Simulator) Decline(ctx context.Context, ref string) error {
	_, err := s.settle(ctx, ref, outcomeDecline, "")
	return err
}

// Expire settles the payment ref as expired unpaid (the QR code, voucher or
// redirect ran out): as Decline, with last_payment_error.code
// payment_intent_payment_attempt_expired.
func (s *Simulator) Expire(ctx context.Context, ref string) error {
	_, err := s.settle(ctx, ref, outcomeExpire, "")
	return err
}

// settle applies an outcome and sends its events; it returns a copy of the
// intent after it. bank, if set, is the iDEAL bank the buyer chose.
func (s *Simulator) settle(ctx context.Context, ref string, o outcome, bank string) (intent, error) {
	s.mu.Lock()
	pi := s.intents[ref]
	if pi == nil {
		s.mu.Unlock()
		return intent{}, &paygate.Error{Code: paygate.ENOTFOUND, Message: "stripesim: no such payment intent: " + ref}
	}
	now := s.now()
	var events []*simkit.Webhook
	switch o {
	case outcomeApprove:
		pm := pi.Method
		if pm == nil {
			pm = pi.LastMethod
		}
		if pm == nil { // never confirmed: the buyer paid with the first method offered
			pm = &paymentMethod{ID: newID("pm", 24), Type: pi.MethodTypes[0], Created: now.Unix()}
			s.addMethod(pi, pm)
		}
		if bank != "" && pm.Type == typeIDEAL && pm.Bank == "" {
			pm.Bank = bank
		}
		if pi.Charge == nil {
			ch := &charge{ID: newID("ch", 24), Created: now.Unix(), BalanceTransaction: newID("txn", 24), Method: pm, MethodType: pm.Type}
			if la := pi.Last; la != nil {
				ch.Reference = la.QRReference
			}
			pi.Charge = ch
			s.charges[ch.ID] = pi
			s.addChange(pi, ch.BalanceTransaction, balanceCharge, pi.Amount, now)
		}
		pi.Method, pi.LastMethod = pm, pm
		pi.Status = statusSucceeded
		pi.AmountReceived = pi.Amount
		pi.LastError = nil
		pi.NextAction = nil
		pi.CanceledAt, pi.CancellationReason = 0, ""
		events = append(events,
			newEvent(eventSucceeded, pi.ID, pi.toJSON(expansions{}), now, "", ""),
			newEvent(eventChargeSuccess, pi.ID, pi.chargeJSON(), now, "", ""))
	case outcomeDecline, outcomeExpire:
		pe := &payError{Code: codeProviderDecline, Message: "The customer's bank declined the payment. Provide a new payment method to attempt this PaymentIntent again."}
		if o == outcomeExpire {
			pe = &payError{Code: codeAttemptExpired, Message: "The payment attempt for this PaymentIntent expired before the customer paid (the QR code, voucher or redirect is no longer valid). Confirm the PaymentIntent again to start a new attempt."}
		}
		pe.Method = pi.Method
		if pe.Method == nil {
			pe.Method = pi.LastMethod
		}
		target := pi
		if pi.Status == statusSucceeded || pi.Status == statusCanceled {
			// A final intent keeps its state; the event shows the failed
			// attempt, as a late failure event would.
			cp := *pi
			cp.AmountReceived, cp.Charge = 0, nil
			target = &cp
		}
		target.Status = statusRequiresPaymentMethod
		target.LastError = pe
		target.NextAction = nil
		target.Method = nil
		target.CanceledAt, target.CancellationReason = 0, ""
		events = append(events, newEvent(eventPaymentFailed, pi.ID, target.toJSON(expansions{}), now, "", ""))
	}
	events = s.record(pi, events, now)
	s.trim(now)
	out := *pi
	method := ""
	if out.LastMethod != nil {
		method = out.LastMethod.Type
	}
	s.mu.Unlock()
	s.log.Info().Str(fieldPaymentIntent, out.ID).Str(fieldPaymentMethod, method).Str(fieldIntentStatus, out.Status).
		Msg("stripesim: payment settled")
	s.hooks.Send(ctx, events, true)
	return out, nil
}

// The API operations.
type apiOp int

const (
	opCreate apiOp = iota
	opRetrieve
	opConfirm
	opCancel
	opCharge
	opRefund
	opGetRefund
	opSearch
	opNotFound
)

// api returns the handler of one API operation: authentication, form
// parsing, idempotency, then the operation under s.mu.
func (s *Simulator) api(op apiOp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reqID := newID("req", 14)
		h := w.Header()
		h.Set("Request-Id", reqID)
		h.Set("Stripe-Version", apiVersion)
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-cache, no-store")
		status, body := s.serveAPI(w, r, op, reqID)
		w.WriteHeader(status)
		_, _ = w.Write(body)
		ev := s.log.Debug()
		if status >= 400 {
			ev = s.log.Info()
		}
		ev.Str(fieldRequestID, reqID).Str(fieldMethod, r.Method).Str(fieldPath, r.URL.Path).Int(fieldStatus, status).
			Msg("stripesim: api request")
	}
}

// serveAPI answers one API request of operation op and returns its status
// and body: it authenticates and reads the request, replays a response
// already given to the same idempotency key, runs the operation under s.mu,
// remembers its response under the key, and sends the webhooks it raised
// once s.mu is released.
func (s *Simulator) serveAPI(w http.ResponseWriter, r *http.Request, op apiOp, reqID string) (int, []byte) {
	if aerr := s.authorize(r); aerr != nil {
		return aerr.Status, aerr.body()
	}
	if op == opNotFound {
		aerr := &apiError{Status: 404, Type: "invalid_request_error",
			Message: "Unrecognized request URL (" + r.Method + ": " + r.URL.Path + "). The Stripe sandbox serves payment_intents create, retrieve, search, confirm and cancel, charges retrieve, and refunds create and retrieve."}
		return aerr.Status, aerr.body()
	}
	f, exp, key, aerr := readAPIRequest(w, r)
	if aerr != nil {
		return aerr.Status, aerr.body()
	}
	endpoint := r.Method + " " + r.URL.Path
	fp := sha256.Sum256([]byte(f.canonical()))

	s.mu.Lock()
	now := s.now()
	if key != "" {
		if e, ok := s.idem.Get(key, now); ok {
			s.mu.Unlock()
			if e.endpoint != endpoint || e.fingerprint != fp {
				aerr := &apiError{Status: 400, Type: "idempotency_error", Code: "idempotency_key_in_use",
					Message: "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '" + key + "' if you meant to execute a different request."}
				return aerr.Status, aerr.body()
			}
			w.Header().Set("Idempotent-Replayed", "true")
			return e.status, e.body
		}
	}
	if op == opCreate || op == opConfirm {
		if aerr := checkKoreanVersion(r, f); aerr != nil {
			s.mu.Unlock()
			return aerr.Status, aerr.body()
		}
	}
	status, body, events, aerr := s.runOp(r, op, f, exp, now, reqID, key)
	if key != "" && (aerr == nil || aerr.Executed) {
		s.idem.Put(key, idemEntry{endpoint: endpoint, fingerprint: fp, status: status, body: body}, now)
	}
	if aerr != nil {
		s.log.Debug().Str(fieldRequestID, reqID).Str(fieldErrorCode, aerr.Code).Str(fieldParam, aerr.Param).
			Msg("stripesim: api request refused")
	}
	s.trim(now)
	s.mu.Unlock()
	s.hooks.Send(r.Context(), events, false)
	return status, body
}

// readAPIRequest reads r's parameters (the body of a POST, the query
// otherwise, at most maxBody bytes), its expansions, and for a POST its
// Idempotency-Key, which it echoes in w's headers. Anything unreadable or
// malformed is an invalid_request_error.
func readAPIRequest(w http.ResponseWriter, r *http.Request) (*form, expansions, string, *apiError) {
	raw := r.URL.RawQuery
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				aerr := invalid("", "", "The request body is too large.")
				aerr.Status = http.StatusRequestEntityTooLarge
				return nil, expansions{}, "", aerr
			}
			return nil, expansions{}, "", invalid("", "", "The request body could not be read.")
		}
		raw = string(b)
	}
	f, err := parseForm(raw)
	if err != nil {
		var fe *formError
		param := ""
		if errors.As(err, &fe) {
			param = fe.Key
		}
		return nil, expansions{}, "", invalid("", param, "Invalid request: %s", strings.TrimPrefix(err.Error(), "stripesim: "))
	}
	exp, aerr := expandOf(f)
	if aerr != nil {
		return nil, expansions{}, "", aerr
	}
	key := ""
	if r.Method == http.MethodPost {
		key = strings.TrimSpace(r.Header.Get("Idempotency-Key"))
		if key != "" {
			w.Header().Set("Idempotency-Key", key)
		}
		if len(key) > 255 {
			return nil, expansions{}, "", invalid("", "", "Idempotency-Key must be at most 255 characters long.")
		}
	}
	return f, exp, key, nil
}

// runOp runs operation op with parameters f at now; s.mu must be held. It
// returns the response's status and body, the webhooks the operation
// raised, and the refusal, if any, whose status and body are the response.
func (s *Simulator) runOp(r *http.Request, op apiOp, f *form, exp expansions, now time.Time, reqID, key string) (int, []byte, []*simkit.Webhook, *apiError) {
	var (
		pi     *intent
		events []*simkit.Webhook
		body   []byte
		aerr   *apiError
	)
	id := r.PathValue("id")
	switch op {
	case opCreate:
		if pi, aerr = s.create(f, now); aerr == nil {
			s.changed(pi, nil, now)
		}
	case opRetrieve:
		if aerr = checkParams(f, retrieveParams()); aerr == nil {
			if pi = s.intents[id]; pi == nil {
				aerr = noSuchIntent(id)
			}
		}
	case opConfirm:
		if pi, aerr = s.confirm(id, f, now); aerr == nil {
			s.changed(pi, nil, now)
		}
	case opCancel:
		if pi, aerr = s.cancel(id, f, now); aerr == nil {
			events = s.record(pi, []*simkit.Webhook{newEvent(eventCanceled, pi.ID, pi.toJSON(expansions{}), now, reqID, key)}, now)
		}
	case opCharge:
		if aerr = checkParams(f, []string{"expand"}); aerr == nil {
			if owner := s.charges[id]; owner == nil {
				aerr = &apiError{Status: 404, Type: "invalid_request_error", Code: "resource_missing", Param: "id",
					Message: "No such charge: '" + id + "'"}
			} else {
				body = marshal(owner.chargeJSON())
			}
		}
	case opRefund:
		body, events, aerr = s.createRefund(f, now, reqID, key)
	case opGetRefund:
		body, aerr = s.getRefund(id, f)
	case opSearch:
		body, aerr = s.search(f, exp)
	}
	switch {
	case aerr != nil:
		return aerr.Status, aerr.body(), events, aerr
	case pi != nil:
		body = marshal(pi.toJSON(exp))
	}
	return http.StatusOK, body, events, nil
}

// authorize checks the secret key, sent as a Bearer token (or, as Stripe
// also accepts, as the Basic auth user name).
func (s *Simulator) authorize(r *http.Request) *apiError {
	key := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		key = strings.TrimSpace(h[len("Bearer "):])
	} else if u, _, ok := r.BasicAuth(); ok {
		key = u
	}
	if key == "" {
		return &apiError{Status: 401, Type: "invalid_request_error",
			Message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."}
	}
	if s.cfg.APIKey == "" || subtle.ConstantTimeCompare([]byte(key), []byte(s.cfg.APIKey)) != 1 {
		return &apiError{Status: 401, Type: "invalid_request_error", Message: "Invalid API Key provided: " + maskKey(key)}
	}
	return nil
}

// maskKey shows a key as Stripe's errors do: its prefix and last 4
// characters.
func maskKey(k string) string {
	if len(k) <= 12 {
		return strings.Repeat("*", len(k))
	}
	prefix := 0
	if i := strings.LastIndexByte(k[:min(len(k), 8)], '_'); i >= 0 {
		prefix = i + 1
	}
	return k[:prefix] + strings.Repeat("*", len(k)-prefix-4) + k[len(k)-4:]
}

// faultError is the 500 of Faults.API "error", as Stripe answers when it
// fails: an api_error, which stripe-go's callers retry.
func (s *Simulator) faultError(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Request-Id", newID("req", 14))
	h.Set("Stripe-Version", apiVersion)
	h.Set("Content-Type", "application/json")
	aerr := &apiError{Status: http.StatusInternalServerError, Type: "api_error",
		Message: "An unknown error occurred (the Stripe sandbox's API fault \"error\" is set)."}
	w.WriteHeader(aerr.Status)
	_, _ = w.Write(aerr.body())
}
