// Package checkout owns payment orders (P12345678) and their payment
// attempts: it creates a payment order with its sales orders, starts an
// attempt with a method at the method's provider, settles the provider's
// verified events (paid → the money moves from the provider's clearing
// account into one escrow per sales order), and serves the API and the
// buyer's checkout page. It owns the payment_orders, payment_attempts and
// checkout_secrets tables.
package checkout

import (
	"context"
	"crypto/rand"
	"embed"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "checkout", FS: migrationFiles, Dir: "migrations"}
}

// Status is a payment order's state.
type Status string

// The payment order statuses. Failed is not final: the buyer may try again
// with another attempt.
const (
	Created  Status = "created"  // no attempt yet
	Pending  Status = "pending"  // an attempt is at its provider
	Paid     Status = "paid"     // a verified event said so
	Failed   Status = "failed"   // the latest attempt failed or expired
	Expired  Status = "expired"  // the order was not paid in time
	Canceled Status = "canceled" // canceled by the marketplace
)

// Final reports whether the order can no longer be paid.
func (s Status) Final() bool { return s == Paid || s == Expired || s == Canceled }

// AttemptStatus is an attempt's state.
type AttemptStatus string

// The attempt statuses.
const (
	AttemptCreating   AttemptStatus = "creating" // we are asking the provider
	AttemptPending    AttemptStatus = "pending"  // the buyer must act (redirect, QR, voucher)
	AttemptProcessing AttemptStatus = "processing"
	AttemptSucceeded  AttemptStatus = "succeeded"
	AttemptFailed     AttemptStatus = "failed"
	AttemptCanceled   AttemptStatus = "canceled" // replaced by another attempt, or canceled at the provider
	AttemptExpired    AttemptStatus = "expired"
)

// open reports whether the attempt may still be paid in the normal course.
func (s AttemptStatus) open() bool {
	return s == AttemptCreating || s == AttemptPending || s == AttemptProcessing
}

// lost reports whether a is an attempt whose create may have reached its
// provider, which could not say whether it holds a payment, and whose
// buyer action failed over to another provider (ReplacedBy): the buyer was
// shown nothing of it. It stays creating until the janitor looks its
// payment up at the provider (FindLost) and cancels it there; it does not
// hold its order pending, and a later attempt does not replace it again.
func (a Attempt) lost() bool { return a.Status == AttemptCreating && a.ReplacedBy != "" }

// PaymentOrder is a payment order with its sales orders and attempts.
type PaymentOrder struct {
	Number      paygate.PaymentOrderNumber
	BuyerID     string
	Amount      paygate.Money
	Status      Status
	ReturnURL   string
	PaidAttempt string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ExpiresAt   time.Time
	Items       []orders.SalesOrder
	Attempts    []Attempt // oldest first
}

// Attempt is one try to pay a payment order with one method.
type Attempt struct {
	ID            string
	PaymentOrder  paygate.PaymentOrderNumber
	Method        providers.Method
	Provider      string
	Amount        paygate.Money
	Status        AttemptStatus
	ProviderRef   string
	NextAction    providers.NextAction
	FailureReason string
	// ReplacedBy is the attempt that replaced this one (status canceled):
	// the buyer started another, or paid from the balance. "" otherwise.
	// An attempt still creating with ReplacedBy set is lost (see lost):
	// its create may have reached its provider, which could not tell, and
	// the buyer's action failed over to ReplacedBy.
	ReplacedBy string
	// Route is why the attempt went to its provider (primary, weighted, or
	// failover from another provider, and why).
	Route     routing.Decision
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Config configures a Service.
type Config struct {
	DB        *storage.DB
	Ledger    *ledger.Ledger
	Providers map[string]providers.Provider // by providers.Stripe, providers.Rapyd
	// PublicURL is the base URL buyers reach paygate at, for checkout links
	// and the return URL given to providers ("http://127.0.0.1:8080").
	PublicURL string
	// ReturnHosts are the hosts a payment order's return_url may point at
	// (see checkReturnURL): "shop.example" allows any port of that host,
	// "shop.example:8443" that port only. Internationalized names are
	// given in their ASCII (xn--) form.
	ReturnHosts []string
	// Secret signs checkout links; if empty, a secret made once and kept in
	// the database is used.
	Secret string
	// OrderTTL is how long a payment order may be paid (default 24 h).
	OrderTTL time.Duration
	// MaxLiveAttempts caps the payments of one order that can still be
	// paid at once: open attempts and replaced vouchers not yet due. A new
	// attempt beyond it is refused (ELIMIT). Zero or negative means
	// DefaultMaxLiveAttempts.
	MaxLiveAttempts int
	// MaxAttempts caps the provider attempts of one order in all, counting
	// a failover chain as the one buyer action it is (checkAttemptCaps). Zero or
	// negative means DefaultMaxAttempts.
	MaxAttempts int
	// Router orders each method's providers (PAYGATE_ROUTES) and keeps
	// their circuit breakers; nil sends each method to its catalog default
	// provider (providers.MethodInfo.Provider) alone, without a breaker.
	Router *routing.Router
	// CreateTimeout bounds one provider's create of a payment (and the
	// look-up after it), so that a hung provider fails over. Zero or
	// negative means DefaultCreateTimeout.
	CreateTimeout time.Duration
	// Sandbox marks a service whose providers are the built-in simulators:
	// the checkout page then links to the simulated bank apps.
	Sandbox bool
	Rand    io.Reader // nil = crypto/rand
	Logger  zerolog.Logger
}

// Service is the checkout use cases. It is safe for concurrent use.
type Service struct {
	cfg         Config
	secret      []byte
	returnHosts []returnHost // cfg.ReturnHosts, parsed
}

// New returns the service, loading (or making) the link-signing secret. It
// returns an error if an entry of cfg.ReturnHosts is not a host name or IP
// address with an optional port.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.OrderTTL == 0 {
		cfg.OrderTTL = 24 * time.Hour
	}
	if cfg.MaxLiveAttempts <= 0 {
		cfg.MaxLiveAttempts = DefaultMaxLiveAttempts
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.CreateTimeout <= 0 {
		cfg.CreateTimeout = DefaultCreateTimeout
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	hosts, err := parseReturnHosts(cfg.ReturnHosts)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, returnHosts: hosts}
	secret, err := s.loadSecret(ctx)
	if err != nil {
		return nil, err
	}
	s.secret = secret
	return s, nil
}

// DefaultCreateTimeout is Config.CreateTimeout's default.
const DefaultCreateTimeout = 10 * time.Second

// offered reports whether some provider of method mi's route is
// configured, so that the method can be offered to buyers.
func (s *Service) offered(mi providers.MethodInfo) bool {
	names := []string{mi.Provider}
	if s.cfg.Router != nil {
		if rt, ok := s.cfg.Router.Routes()[mi.Method]; ok {
			names = rt.Providers()
		}
	}
	for _, n := range names {
		if s.cfg.Providers[n] != nil {
			return true
		}
	}
	return false
}

// CheckoutURL is the buyer's link to pay the order.
func (s *Service) CheckoutURL(p paygate.PaymentOrderNumber) string {
	return s.cfg.PublicURL + "/checkout/" + string(p) + "?t=" + url.QueryEscape(s.Token(p))
}

// ReturnPageURL is where providers send the buyer back to.
func (s *Service) ReturnPageURL(p paygate.PaymentOrderNumber) string {
	return s.cfg.PublicURL + "/checkout/" + string(p) + "/return?t=" + url.QueryEscape(s.Token(p))
}
