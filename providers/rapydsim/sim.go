// Package rapydsim simulates the part of Rapyd's API that paygate uses, so
// that `paygate serve` without Rapyd credentials runs the real rapyd client
// against it: only the client's BaseURL differs.
//
// The simulator checks request signatures as Rapyd does (rapyd.Signature
// over the path below its mount), keeps payments in memory, lists its
// payment method types by country (iDEAL in NL, PayNow in SG, Boleto in
// BR, KakaoPay and Samsung Pay in KR, under type names of its own that
// follow Rapyd's pattern), serves each method's flow — a hosted bank page
// for iDEAL and wallet pages for KakaoPay and Samsung Pay with Approve
// and Decline buttons, a PayNow QR code (a valid SGQR payload with its
// CRC) in the payment's textual and visual codes, a boleto voucher (a
// valid digitable line) for a payer whose fields carry a valid CPF or
// CNPJ — and posts
// webhooks signed exactly as Rapyd signs them (rapyd.WebhookSignature over
// Config.WebhookURL), retrying failed deliveries in the background.
// SetFaults makes the deliveries misbehave as real webhooks do (duplicated,
// reordered, late, lost), and Redeliver resends a payment's webhooks as
// Rapyd's Resend Webhook does.
//
// Mount Handler under a path prefix with http.StripPrefix:
//
//	mux.Handle("/sandbox/rapyd/", http.StripPrefix("/sandbox/rapyd", sim.Handler()))
//
// API subset (paths below the mount):
//
//	POST   /v1/payments                          create (idempotency header replays the first response)
//	GET    /v1/payments?merchant_reference_id=…  list payments, newest first (limit 1–100, default 10)
//	GET    /v1/payments/{id}                     retrieve
//	DELETE /v1/payments/{id}                     cancel an ACT payment of a cancelable type (PAYMENT_CANCELED; not a boleto)
//	POST   /v1/refunds                           refund (part of) a CLO payment of a refundable type (REFUND_COMPLETED; not a boleto)
//	GET    /v1/refunds/{id}                      retrieve a refund
//	GET    /v1/payment_methods/countries/{cc}    the types offered in cc (?currency= filters), with their fields
//	GET    /pay/{id}                             the hosted bank or wallet page (redirect_url), or a QR's or voucher's page
//	POST   /pay/{id}/approve, /pay/{id}/decline  the buyer's answer
//	GET    /reports/settlement.csv?from=…&to=…   the settlement report (SettlementReport; RFC 3339 bounds, unsigned: sandbox data)
//
// Like Rapyd, it sends PAYMENT_SUCCEEDED when a payment is created (status
// ACT: the buyer has not paid) and PAYMENT_COMPLETED when the buyer pays
// (status CLO): an integration that ships on PAYMENT_SUCCEEDED is caught here.
// Amounts are major units of the payment's currency (15000 KRW, 10.5 EUR);
// a type takes only its currency, within its amount range.
//
// Boleto is not refundable (is_refundable false) and not cancelable:
// see defaultOffers. A type of Config.Unavailable is neither listed nor
// accepted (ERROR_GET_PAYMENT_METHOD_TYPE), as a type Rapyd has not
// enabled for the account.
//
// A refund is answered Pending and completes at once (Rapyd's own sandbox
// waits for POST /v1/refunds/complete, which the simulator does not
// serve): REFUND_COMPLETED follows the answer. FailNextRefund makes the next one Rejected instead
// (PAYMENT_REFUND_REJECTED). As in Rapyd's default configuration, the
// idempotency header replays Create Payment only, not refunds; the
// payment object lists its refunds (refunds.data) and refunded_amount.
//
// State lives in memory, bounded by Config.Limits: the simulator forgets
// the oldest settled payments (CLO, CAN, ERR or EXP, every webhook
// acknowledged), idempotency keys and settlement report lines beyond them,
// so that a long sandbox run keeps its memory flat; Usage counts what it
// keeps.
package rapydsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/simkit"
)

// Defaults of Config.
const (
	DefaultRetryBackoff   = time.Second
	DefaultWebhookTimeout = 10 * time.Second
	// MaxDeliveryAttempts is how many times a webhook is posted, the first
	// time included, before the simulator gives up on it.
	MaxDeliveryAttempts = simkit.MaxAttempts
	// requestWindow is how far a request's timestamp may be from now.
	requestWindow = 60 * time.Second
)

// Config configures a Simulator.
type Config struct {
	// BaseURL is the public URL of the mount ("http://127.0.0.1:8080/sandbox/rapyd"),
	// for the hosted page URLs the API returns.
	BaseURL string
	// AccessKey and SecretKey sign the requests the simulator accepts and
	// the webhooks it sends.
	AccessKey, SecretKey string
	// WebhookURL is where webhooks are posted, and what they are signed
	// over. If empty, no webhooks are sent.
	WebhookURL string
	// MethodTypes renames the payment method types of methods (the
	// simulator's own names are nl_ideal_bank, sg_paynow_bank,
	// br_boleto_cash, kr_kakaopay_ewallet and kr_samsungpay_ewallet), to
	// show that a client takes them from the list.
	MethodTypes map[providers.Method]string
	// Unavailable are methods the account cannot use: the simulator does
	// not list them and refuses their payments with
	// ERROR_GET_PAYMENT_METHOD_TYPE, as Rapyd refuses a type not enabled
	// for the merchant.
	Unavailable []providers.Method
	// HTTPClient posts the webhooks; nil means a client with
	// DefaultWebhookTimeout.
	HTTPClient *http.Client
	// Now is the simulator's clock; nil means time.Now.
	Now func() time.Time
	// Logger receives a line per webhook delivery and per refused request.
	Logger zerolog.Logger
	// RetryBackoff is the wait after a webhook's first failed delivery; it
	// doubles after each further failure. 0 means DefaultRetryBackoff.
	RetryBackoff time.Duration
	// Seed seeds the generator behind Faults.DropRate, so that a run with
	// dropped webhooks can be replayed; 0 is a seed like any other.
	Seed uint64
	// Limits bound what the simulator keeps; the zero Limits is the
	// defaults (simkit.Limits documents each). A payment is final in any
	// status but ACT. A forgotten payment is unknown to the API, the
	// hosted page and Redeliver, with its refunds; its report lines stay
	// until Limits.ReportLines newer ones push them out. Idempotency keys
	// (Limits.IdempotencyFor, default 24 hours) are kept per key and
	// amount, as Rapyd compares them.
	Limits Limits
}

// Limits bound what a Simulator keeps in memory (simkit.Limits documents
// each field; stripesim.Limits is the same type).
type Limits = simkit.Limits

// Usage counts what a Simulator keeps in memory.
type Usage struct {
	Payments        int
	Settled         int // of which settled: final, every webhook acknowledged
	Refunds         int
	Webhooks        int // webhooks kept for Redeliver
	IdempotencyKeys int
	ReportLines     int // balance changes kept for the settlement report
}

// Simulator is a simulated Rapyd. It is safe for concurrent use. Close
// stops its background webhook retries.
type Simulator struct {
	cfg     Config
	offers  []*offer          // listed, in the catalog's order
	byType  map[string]*offer // every offer, listed or not, by type
	http    *http.Client
	now     func() time.Time
	log     zerolog.Logger
	pages   *template.Template
	policy  string // the hosted pages' Content-Security-Policy
	handler http.Handler

	mu          sync.Mutex
	payments    map[string]*payment
	idempotency *simkit.Idempotency[[]byte]  // create responses, by key and amount
	history     map[string][]*simkit.Webhook // by payment id: every webhook produced, for Redeliver
	held        map[string][]*simkit.Webhook // by payment id: webhooks held back by Faults.Reorder
	refunds     map[string]*refund           // by refund id
	retain      *simkit.Retainer             // which payments are kept
	ledger      simkit.Store[balanceChange]  // by report line id: the report's lines
	limits      Limits
	failRefunds int // how many of the next refunds are rejected (FailNextRefund)

	hooks *simkit.Deliverer // the webhooks' delivery, through the Faults in force
}

// payment is a simulated payment.
type payment struct {
	id             string
	method         providers.Method
	methodType     string
	offer          *offer
	amount         paygate.Money
	qr             string // PayNow: the EMVCo payload of its QR code
	qrPNG          string // PayNow: the QR code as a data: URL of a PNG
	voucher        string // Boleto: the digitable line
	status         string
	description    string
	reference      string
	metadata       json.RawMessage
	completeURL    string
	errorURL       string
	expiration     int64
	createdAt      time.Time
	paidAt         time.Time
	failureCode    string
	failureMessage string
	cancelReason   string
	refunds        []*refund // oldest first
}

// The payment statuses.
const (
	statusActive   = "ACT"
	statusClosed   = "CLO"
	statusCanceled = "CAN"
	statusError    = "ERR"
	statusExpired  = "EXP"
)

// The webhook types sent.
const (
	typeSucceeded = "PAYMENT_SUCCEEDED"
	typeCompleted = "PAYMENT_COMPLETED"
	typeFailed    = "PAYMENT_FAILED"
	typeExpired   = "PAYMENT_EXPIRED"
	typeCanceled  = "PAYMENT_CANCELED"

	typeRefundCompleted = "REFUND_COMPLETED"
	typeRefundRejected  = "PAYMENT_REFUND_REJECTED"
)

// New returns a simulator. It does nothing until its handler serves or one
// of Approve, Decline and Expire is called.
func New(cfg Config) *Simulator {
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	s := &Simulator{
		cfg:         cfg,
		byType:      map[string]*offer{},
		http:        cfg.HTTPClient,
		now:         cfg.Now,
		log:         cfg.Logger.With().Str(fieldComponent, "rapydsim").Logger(),
		pages:       template.Must(template.ParseFS(templates, "templates/*.html")),
		policy:      pagePolicy(),
		payments:    map[string]*payment{},
		idempotency: simkit.NewIdempotency[[]byte](cfg.Limits),
		history:     map[string][]*simkit.Webhook{},
		held:        map[string][]*simkit.Webhook{},
		refunds:     map[string]*refund{},
		retain:      simkit.NewRetainer(cfg.Limits, cfg.WebhookURL != ""),
		limits:      cfg.Limits.WithDefaults(),
	}
	for _, o := range defaultOffers() {
		if t := cfg.MethodTypes[o.method]; t != "" {
			o.typ = t
		}
		s.byType[o.typ] = &o
		if !slices.Contains(cfg.Unavailable, o.method) {
			s.offers = append(s.offers, &o)
		}
	}
	if s.http == nil {
		s.http = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	if s.now == nil {
		s.now = time.Now
	}
	hc := simkit.Config{
		Name:       "rapydsim",
		Logger:     s.log,
		Fields:     simkit.LogFields{ID: fieldWebhookID, Type: fieldWebhookType, Ref: fieldPaymentRef, Attempt: fieldAttempt},
		Backoff:    cfg.RetryBackoff,
		MaxBackoff: maxBackoff,
		Seed:       cfg.Seed,
	}
	if cfg.WebhookURL != "" {
		hc.Post, hc.Delivered = s.post, s.delivered
	}
	s.hooks = simkit.New(hc)
	s.handler = s.hooks.API(s.routes(), simkit.APIConfig{
		Prefix: "/v1/",
		IsCreate: func(r *http.Request) bool {
			return r.Method == http.MethodPost && r.URL.Path == "/v1/payments"
		},
		IdempotencyHeader: "idempotency",
		Error: func(w http.ResponseWriter) {
			s.apiError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "The Rapyd sandbox's API fault \"error\" is set.")
		},
	})
	return s
}

// Handler returns the simulator's HTTP handler, which serves paths relative
// to its mount.
func (s *Simulator) Handler() http.Handler { return s.handler }

// Close stops the background webhook retries and delayed deliveries and
// waits for them to end. Webhooks still undelivered are dropped. Approve, Decline and Expire still
// work after Close, but no longer retry.
func (s *Simulator) Close() { s.hooks.Close() }

// WebhooksIdle waits until the simulator sends and retries nothing in the
// background (every webhook handed to delivery has had its last attempt), or
// ctx ends, and reports whether it is idle. Tests call it to know that no
// further webhook is coming.
func (s *Simulator) WebhooksIdle(ctx context.Context) bool { return s.hooks.Idle(ctx) }

// Approve simulates the buyer paying: the payment becomes CLO and a
// PAYMENT_COMPLETED webhook is sent, whatever the payment's state was (a
// payment approved after it expired or was canceled is a late payment). The
// webhook is posted once before Approve returns; if that fails, it is
// retried in the background. An unknown ref is an ENOTFOUND error. Faults
// set with SetFaults may duplicate, reorder, delay or drop the webhook.
func (s *Simulator) Approve(ctx context.Context, ref string) error {
	return s.settle(ctx, ref, typeCompleted, func(p *payment, now time.Time) {
		p.status = statusClosed
		p.paidAt = now
		p.failureCode, p.failureMessage, p.cancelReason = "", "", ""
	})
}

// Decline simulates the buyer declining at the bank or in the wallet: the payment becomes
// ERR and a PAYMENT_FAILED webhook is sent, as for Approve.
func (s *Simulator) Decline(ctx context.Context, ref string) error {
	return s.settle(ctx, ref, typeFailed, func(p *payment, now time.Time) {
		p.status = statusError
		p.failureCode = "ERROR_WALLET_PAYMENT_DECLINED"
		p.failureMessage = "The buyer declined the payment in the wallet (Rapyd sandbox)."
	})
}

// Expire simulates the payment's deadline passing: the payment becomes EXP
// and a PAYMENT_EXPIRED webhook is sent, as for Approve.
func (s *Simulator) Expire(ctx context.Context, ref string) error {
	return s.settle(ctx, ref, typeExpired, func(p *payment, now time.Time) {
		p.status = statusExpired
	})
}

func (s *Simulator) settle(ctx context.Context, ref, webhookType string, change func(*payment, time.Time)) error {
	now := s.now()
	s.mu.Lock()
	p, ok := s.payments[ref]
	if !ok {
		s.mu.Unlock()
		return paygate.Errorf(paygate.ENOTFOUND, "rapydsim: no payment %q", paygate.Clip(ref, 64))
	}
	change(p, now)
	s.reportPayment(p)
	batch := s.queue(p, s.newDelivery(webhookType, p, now), true, now)
	s.trim(now)
	s.mu.Unlock()

	s.hooks.Send(ctx, batch, true)
	return nil
}

// snapshot returns a copy of a payment, or false.
func (s *Simulator) snapshot(ref string) (payment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[ref]
	if !ok {
		return payment{}, false
	}
	return *p, true
}

// newID returns prefix followed by 32 random hex digits.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}
