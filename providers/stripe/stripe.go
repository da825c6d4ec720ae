// Package stripe is the Stripe provider: iDEAL (EUR, redirect), PayNow (SGD,
// QR code), Boleto (BRL, voucher), Kakao Pay and Samsung Pay (KRW,
// redirect) as PaymentIntents, through stripe-go v76 (API version
// 2023-10-16; the Korean methods' requests carry KoreanAPIVersion). Every
// method but Boleto is refunded with Stripe's Refunds; Boleto has none at
// Stripe, and Refund says so without asking.
//
// A Client talks to one Stripe account with its own secret key and HTTP
// client; it never touches stripe-go's package-level key or backends, so
// several clients (live, test, the sandbox simulator, stripe-mock) can live
// in one process. Webhooks are verified with stripe-go's webhook package
// plus a time window that is checked in both directions against the
// webhook's ReceivedAt.
package stripe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// Defaults of Config's zero values.
const (
	DefaultHTTPTimeout            = 30 * time.Second
	DefaultWebhookTolerance       = 300 * time.Second
	DefaultBoletoExpiresAfterDays = 3
	DefaultPayNowQRLifetime       = time.Hour
)

// maxBoletoExpiresAfterDays is the most calendar days Stripe lets a boleto
// voucher stay payable.
const maxBoletoExpiresAfterDays = 60

// maxIdempotencyKeyLen is the longest Idempotency-Key Stripe (and stripe-go,
// client-side) accepts.
const maxIdempotencyKeyLen = 255

// cancellationReason is what CancelPayment tells Stripe: the buyer left the
// attempt behind (another method, an expired order).
const cancellationReason = stripego.PaymentIntentCancellationReasonAbandoned

// Metadata keys of every PaymentIntent paygate creates; webhooks read them
// back.
const (
	MetadataPaymentOrder = "payment_order"
	MetadataAttempt      = "attempt"
)

// Config configures a Client.
type Config struct {
	// SecretKey is the account's secret (sk_test_…, sk_live_…) or
	// restricted (rk_test_…, rk_live_…) key. Required. Its mode, test or
	// live, is the mode of the webhooks ParseWebhook accepts. It is sent
	// only in the Authorization header and never logged or put in an error.
	SecretKey string
	// BaseURL is where the Stripe API lives: "" is https://api.stripe.com;
	// anything else is stripe-mock or the sandbox simulator, such as
	// "http://127.0.0.1:8080/sandbox/stripe".
	BaseURL string
	// WebhookSecret is the endpoint's signing secret (whsec_…). ParseWebhook
	// refuses every webhook while it is empty.
	WebhookSecret string
	// HTTPClient makes the API calls; nil is a client with a 30 s timeout.
	HTTPClient *http.Client
	// WebhookTolerance is how far a webhook's signed timestamp may lie from
	// its ReceivedAt, in the past and in the future; 0 is 300 s.
	WebhookTolerance time.Duration
	// BoletoExpiresAfterDays is how many calendar days a boleto voucher
	// stays payable (it expires at 23:59 São Paulo time on the last one);
	// 0 is 3, the most is 60.
	BoletoExpiresAfterDays int64
	// PayNowQRLifetime is when a PayNow QR code is taken to expire, counted
	// from the PaymentIntent's creation, when Stripe gives no expiry; 0 is
	// 1 h.
	PayNowQRLifetime time.Duration
	// Logger receives the client's few log lines; a request's logger in the
	// context (zerolog.Ctx) takes precedence.
	Logger zerolog.Logger
}

// Client is the Stripe provider. It is safe for concurrent use.
type Client struct {
	api           *client.API
	livemode      bool // the key is a live key: only live events are accepted
	webhookSecret string
	secretHint    string // the webhook secret's prefix and last 4, for Event.Verification
	tolerance     time.Duration
	boletoDays    int64
	qrLifetime    time.Duration
	log           zerolog.Logger
}

var _ providers.Provider = (*Client)(nil)

// New returns a Client for cfg. A missing or malformed secret key (one
// that is not sk_ or rk_, test or live), an unusable BaseURL or an
// out-of-range duration is an EINVALID error.
func New(cfg Config) (*Client, error) {
	live, err := validKey(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	baseURL := stripego.APIURL
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, paygate.Errorf(paygate.EINVALID, "stripe: base URL %q is not an http(s) URL without credentials, query or fragment", cfg.BaseURL)
		}
		baseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	}
	if cfg.WebhookTolerance < 0 {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe: webhook tolerance %s is negative", cfg.WebhookTolerance)
	}
	if cfg.PayNowQRLifetime < 0 {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe: PayNow QR lifetime %s is negative", cfg.PayNowQRLifetime)
	}
	if cfg.BoletoExpiresAfterDays < 0 || cfg.BoletoExpiresAfterDays > maxBoletoExpiresAfterDays {
		return nil, paygate.Errorf(paygate.EINVALID, "stripe: boleto expiry of %d days is outside 0..%d (0 means %d)", cfg.BoletoExpiresAfterDays, maxBoletoExpiresAfterDays, DefaultBoletoExpiresAfterDays)
	}

	c := &Client{
		livemode:      live,
		webhookSecret: cfg.WebhookSecret,
		secretHint:    keyHint(cfg.WebhookSecret),
		tolerance:     orDefault(cfg.WebhookTolerance, DefaultWebhookTolerance),
		boletoDays:    orDefault(cfg.BoletoExpiresAfterDays, DefaultBoletoExpiresAfterDays),
		qrLifetime:    orDefault(cfg.PayNowQRLifetime, DefaultPayNowQRLifetime),
		log:           cfg.Logger.With().Str(FieldProvider, providers.Stripe).Logger(),
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	// stripe-go fills in what the config leaves nil, and a nil URL would
	// point every backend at api.stripe.com: set everything explicitly.
	// No retries inside stripe-go: its back-off sleeps ignore the context,
	// net/http already replays a request with an Idempotency-Key on a stale
	// keep-alive connection, and every caller retries an EUNAVAILABLE with
	// the same idempotency key.
	backends := stripego.NewBackendsWithConfig(&stripego.BackendConfig{
		URL:               stripego.String(baseURL),
		HTTPClient:        httpClient,
		MaxNetworkRetries: stripego.Int64(0),
		LeveledLogger:     &stripego.LeveledLogger{Level: stripego.LevelNull},
		EnableTelemetry:   stripego.Bool(false),
	})
	c.api = &client.API{}
	c.api.Init(cfg.SecretKey, backends)
	return c, nil
}

// validKey checks the shape of a secret key without ever quoting it, and
// reports whether it is a live key.
func validKey(key string) (live bool, err error) {
	switch {
	case key == "":
		return false, paygate.Errorf(paygate.EINVALID, "stripe: secret key is required")
	case !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_"):
		return false, paygate.Errorf(paygate.EINVALID, "stripe: secret key must start with sk_ or rk_ (a publishable pk_ key cannot create payments)")
	case strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r > '~' }):
		return false, paygate.Errorf(paygate.EINVALID, "stripe: secret key contains whitespace or non-ASCII characters")
	}
	switch mode := key[len("sk_"):]; {
	case strings.HasPrefix(mode, "live_"):
		return true, nil
	case strings.HasPrefix(mode, "test_"):
		return false, nil
	}
	return false, paygate.Errorf(paygate.EINVALID, "stripe: secret key must be a test (sk_test_, rk_test_) or live (sk_live_, rk_live_) key: webhooks are checked against its mode")
}

// keyHint names a key without revealing it: its prefix up to the last "_"
// of its first 8 characters ("whsec_", "sk_test_") and, if the key has 16
// characters or more, "…" and its last 4. A key without such a prefix shows
// only the last 4, and a short one nothing but "…".
func keyHint(key string) string {
	printable := func(s string) bool {
		return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' })
	}
	prefix, last := "", ""
	if i := strings.LastIndexByte(key[:min(len(key), 8)], '_'); i >= 0 && printable(key[:i+1]) {
		prefix = key[:i+1]
	}
	if len(key) >= 16 && printable(key[len(key)-4:]) {
		last = key[len(key)-4:]
	}
	return prefix + "…" + last
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Name returns providers.Stripe.
func (c *Client) Name() string { return providers.Stripe }

// Refundable reports whether Stripe refunds the method's payments: every
// method but Boleto, which has no refunds at Stripe.
func (c *Client) Refundable(m providers.Method) bool { return refundable(m) }

// refundable is Refundable. Kakao Pay and Samsung Pay refunds go through
// the same Refunds API as iDEAL's; Stripe's pages of the two methods read
// here say nothing against refunds, but no page read states them outright
// (unverified).
func refundable(m providers.Method) bool { return m != providers.Boleto }

// CreatePayment creates and confirms a PaymentIntent for req in one call
// and returns it with its next action: a redirect for iDEAL, Kakao Pay and
// Samsung Pay, a QR code for PayNow, a voucher for Boleto. The Stripe
// request carries req.IdempotencyKey, so calling again with the same key
// returns the same PaymentIntent; a Kakao Pay or Samsung Pay request also
// carries KoreanAPIVersion. A method Stripe does not serve here, a currency
// that is not the method's, a non-positive amount or one outside the
// method's limits (Kakao Pay: from 100 KRW; Samsung Pay: 100 to 2,000,000
// KRW), a missing idempotency key, return URL (the redirect methods) or
// payer detail (Boleto), or a request Stripe refuses is an EINVALID error;
// an unreachable or failing Stripe is EUNAVAILABLE, and a method Stripe
// says is not activated or available for the account is EUNAVAILABLE
// wrapping providers.ErrMethodUnavailable.
func (c *Client) CreatePayment(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error) {
	params, err := c.intentParams(req)
	if err != nil {
		return providers.Payment{}, err
	}
	params.Context = ctx
	pi, err := c.createIntent(params)
	if err != nil {
		return providers.Payment{}, apiError("create payment for "+req.PaymentOrder, err)
	}
	p, err := c.payment(ctx, pi)
	if err != nil {
		return providers.Payment{}, err
	}
	l := c.logger(ctx)
	l.Debug().
		Str(FieldPaymentOrder, req.PaymentOrder).
		Str(FieldAttempt, req.Attempt).
		Str(FieldPaymentMethod, string(req.Method)).
		Str(FieldPaymentRef, p.Ref).
		Str(FieldStatus, string(p.Status)).
		Str(FieldStripeRequestID, requestID(pi.LastResponse)).
		Msg("stripe payment created")
	return p, nil
}

// createIntent is the one Stripe call of CreatePayment, apart so that tests
// can read the raw response (the echoed Idempotency-Key) and send
// parameters CreatePayment would never build.
func (c *Client) createIntent(params *stripego.PaymentIntentParams) (*stripego.PaymentIntent, error) {
	return c.api.PaymentIntents.New(params)
}

// intentParams validates req and builds the PaymentIntent parameters.
func (c *Client) intentParams(req providers.PaymentRequest) (*stripego.PaymentIntentParams, error) {
	return c.buildParams(req, true)
}

// buildParams is intentParams; without needPayer, a Boleto request without
// a payer is built without the payer's details (see FindPayment). It checks
// the request, builds the parameters every method shares, then adds those
// of the request's method.
func (c *Client) buildParams(req providers.PaymentRequest, needPayer bool) (*stripego.PaymentIntentParams, error) {
	typ, mi, key, err := checkRequest(req)
	if err != nil {
		return nil, err
	}
	params, err := commonParams(req, typ, key)
	if err != nil {
		return nil, err
	}
	if err := c.methodParams(params, req, mi, needPayer); err != nil {
		return nil, err
	}
	return params, nil
}

// checkRequest checks that Stripe serves req's method in req's currency,
// that the amount is positive and within the method's limits, and that
// the payment order, the attempt and the idempotency key are given. It
// returns the method's Stripe payment method type, its catalog entry and
// the trimmed idempotency key.
func checkRequest(req providers.PaymentRequest) (typ string, mi providers.MethodInfo, key string, err error) {
	// The catalog's Provider is only a method's default provider: Stripe
	// serves every method it has a payment method type for.
	typ, served := stripeType(req.Method)
	mi, ok := providers.Lookup(req.Method)
	if !ok || !served {
		return "", mi, "", paygate.Errorf(paygate.EINVALID, "stripe: payment method %q is not served by Stripe", req.Method)
	}
	if req.Amount.Currency != mi.Currency {
		return "", mi, "", paygate.Errorf(paygate.EINVALID, "stripe: %s takes %s, not %q", mi.Label, mi.Currency, req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 {
		return "", mi, "", paygate.Errorf(paygate.EINVALID, "stripe: amount %s is not positive", req.Amount)
	}
	if err := checkAmountLimits(req.Method, req.Amount); err != nil {
		return "", mi, "", err
	}
	if req.PaymentOrder == "" || req.Attempt == "" {
		return "", mi, "", paygate.Errorf(paygate.EINVALID, "stripe: the payment order number and the attempt id are required")
	}
	key = strings.TrimSpace(req.IdempotencyKey)
	if key == "" || len(key) > maxIdempotencyKeyLen {
		return "", mi, "", paygate.Errorf(paygate.EINVALID, "stripe: an idempotency key of 1 to %d characters is required", maxIdempotencyKeyLen)
	}
	return typ, mi, key, nil
}

// commonParams builds the parameters every method shares: a confirmed
// PaymentIntent of payment method type typ for req's amount, with the API
// version header, idempotency key key, paygate's metadata, and the
// description and return URL when given. A return URL that is not an
// absolute http(s) URL is an EINVALID error.
func commonParams(req providers.PaymentRequest, typ, key string) (*stripego.PaymentIntentParams, error) {
	params := &stripego.PaymentIntentParams{
		Amount:             stripego.Int64(req.Amount.Minor),
		Currency:           stripego.String(strings.ToLower(string(req.Amount.Currency))),
		PaymentMethodTypes: []*string{stripego.String(typ)},
		PaymentMethodData: &stripego.PaymentIntentPaymentMethodDataParams{
			Type: stripego.String(typ),
		},
		Confirm: stripego.Bool(true),
	}
	params.Headers = versionHeader(req.Method)
	params.SetIdempotencyKey(key)
	params.AddMetadata(MetadataPaymentOrder, req.PaymentOrder)
	params.AddMetadata(MetadataAttempt, req.Attempt)
	if req.Description != "" {
		params.Description = stripego.String(req.Description)
	}
	if req.ReturnURL != "" {
		if u, err := url.Parse(req.ReturnURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, paygate.Errorf(paygate.EINVALID, "stripe: return URL %q is not an absolute http(s) URL", req.ReturnURL)
		}
		params.ReturnURL = stripego.String(req.ReturnURL)
	}
	return params, nil
}

// methodParams adds to params what req's method needs: a return URL for
// the redirect methods, the payer's billing details, and for Boleto the
// payer's tax id (checked when needPayer or a payer is given) and the
// client's days to expiry.
func (c *Client) methodParams(params *stripego.PaymentIntentParams, req providers.PaymentRequest, mi providers.MethodInfo, needPayer bool) error {
	switch req.Method {
	case providers.KakaoPay, providers.SamsungPay:
		// Both redirect the buyer to Stripe's local processor partner and
		// back; v76 has no sub-hash for them, and none is required.
		if req.ReturnURL == "" {
			return paygate.Errorf(paygate.EINVALID, "stripe: %s needs a return URL to send the buyer back to", mi.Label)
		}
		params.PaymentMethodData.BillingDetails = billingDetails(req.Payer)
	case providers.IDEAL:
		if req.ReturnURL == "" {
			return paygate.Errorf(paygate.EINVALID, "stripe: iDEAL needs a return URL to send the buyer back to")
		}
		params.PaymentMethodData.IDEAL = &stripego.PaymentMethodIDEALParams{}
		params.PaymentMethodData.BillingDetails = billingDetails(req.Payer)
	case providers.PayNow:
		params.PaymentMethodData.PayNow = &stripego.PaymentIntentPaymentMethodDataPayNowParams{}
		params.PaymentMethodData.BillingDetails = billingDetails(req.Payer)
	case providers.Boleto:
		params.PaymentMethodData.Boleto = &stripego.PaymentMethodBoletoParams{}
		if needPayer || req.Payer != (providers.Payer{}) {
			if err := boletoPayer(req.Payer); err != nil {
				return err
			}
			params.PaymentMethodData.Boleto.TaxID = stripego.String(req.Payer.TaxID)
		}
		params.PaymentMethodData.BillingDetails = billingDetails(req.Payer)
		params.PaymentMethodOptions = &stripego.PaymentIntentPaymentMethodOptionsParams{
			Boleto: &stripego.PaymentIntentPaymentMethodOptionsBoletoParams{
				ExpiresAfterDays: stripego.Int64(c.boletoDays),
			},
		}
	}
	return nil
}

// boletoPayer checks that the payer has everything Stripe's boleto asks
// for. It names missing fields, never their values (a CPF is personal).
func boletoPayer(p providers.Payer) error {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"name", p.Name},
		{"email", p.Email},
		{"tax_id", p.TaxID},
		{"address.line1", p.Address.Line1},
		{"address.city", p.Address.City},
		{"address.state", p.Address.State},
		{"address.postal_code", p.Address.PostalCode},
		{"address.country", p.Address.Country},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return paygate.Errorf(paygate.EINVALID, "stripe: boleto needs the payer's %s", strings.Join(missing, ", "))
	}
	return nil
}

// billingDetails returns the payer's billing details, or nil when the payer
// is empty.
func billingDetails(p providers.Payer) *stripego.PaymentIntentPaymentMethodDataBillingDetailsParams {
	var bd stripego.PaymentIntentPaymentMethodDataBillingDetailsParams
	set := func(v string) *string {
		if v == "" {
			return nil
		}
		return stripego.String(v)
	}
	bd.Name, bd.Email, bd.Phone = set(p.Name), set(p.Email), set(p.Phone)
	a := p.Address
	if a != (providers.Address{}) {
		bd.Address = &stripego.AddressParams{
			Line1:      set(a.Line1),
			Line2:      set(a.Line2),
			City:       set(a.City),
			State:      set(a.State),
			PostalCode: set(a.PostalCode),
			Country:    set(a.Country),
		}
	}
	if bd == (stripego.PaymentIntentPaymentMethodDataBillingDetailsParams{}) {
		return nil
	}
	return &bd
}

// GetPayment retrieves PaymentIntent ref and returns its current state. A
// malformed ref is EINVALID, an unknown one ENOTFOUND, an unreachable or
// failing Stripe EUNAVAILABLE.
func (c *Client) GetPayment(ctx context.Context, ref string) (providers.Payment, error) {
	pi, err := c.getIntent(ctx, ref)
	if err != nil {
		return providers.Payment{}, err
	}
	return c.payment(ctx, pi)
}

func (c *Client) getIntent(ctx context.Context, ref string) (*stripego.PaymentIntent, error) {
	if err := validRef(ref); err != nil {
		return nil, err
	}
	params := &stripego.PaymentIntentParams{}
	params.Context = ctx
	pi, err := c.api.PaymentIntents.Get(ref, params)
	if err != nil {
		return nil, apiError("get payment "+ref, err)
	}
	return pi, nil
}

// CancelPayment cancels PaymentIntent ref with the reason "abandoned". It
// retrieves the PaymentIntent first: a canceled one is left as it is (nil),
// a succeeded one is an ECONFLICT error, and a Boleto one is
// providers.ErrNotCancelable without asking Stripe to cancel it, because the
// issued voucher stays payable at banks and stores whatever Stripe's status
// says. A cancellation Stripe refuses for the PaymentIntent's state (it
// succeeded meanwhile, or is processing) is ECONFLICT too.
func (c *Client) CancelPayment(ctx context.Context, ref string) error {
	pi, err := c.getIntent(ctx, ref)
	if err != nil {
		return err
	}
	switch {
	case pi.Status == stripego.PaymentIntentStatusSucceeded:
		return paygate.Errorf(paygate.ECONFLICT, "stripe: cancel payment %s: it has already succeeded", ref)
	case pi.Status == stripego.PaymentIntentStatusCanceled:
		return nil
	case hasMethod(pi, providers.Boleto):
		return fmt.Errorf("stripe: cancel payment %s: boleto: %w", ref, providers.ErrNotCancelable)
	}
	params := &stripego.PaymentIntentCancelParams{CancellationReason: stripego.String(string(cancellationReason))}
	params.Context = ctx
	pi, err = c.api.PaymentIntents.Cancel(ref, params)
	if err != nil {
		return apiError("cancel payment "+ref, err)
	}
	l := c.logger(ctx)
	l.Debug().
		Str(FieldPaymentRef, ref).
		Str(FieldStatus, string(pi.Status)).
		Str(FieldStripeRequestID, requestID(pi.LastResponse)).
		Msg("stripe payment canceled")
	return nil
}

func hasMethod(pi *stripego.PaymentIntent, m providers.Method) bool {
	for _, t := range pi.PaymentMethodTypes {
		if pm, ok := methodOf(t); ok && pm == m {
			return true
		}
	}
	return false
}

// maxRefLen bounds a PaymentIntent id; Stripe's are about 27 characters.
const maxRefLen = 255

// validRef checks that ref looks like a PaymentIntent id ("pi_" and
// letters, digits, "_" or "-"), so that no caller-supplied text reaches a
// URL path.
func validRef(ref string) error {
	if rest, ok := strings.CutPrefix(ref, "pi_"); !ok || rest == "" || !validID(ref) {
		return paygate.Errorf(paygate.EINVALID, "stripe: %q is not a PaymentIntent id (pi_…)", paygate.Clip(ref, maxQuoted))
	}
	return nil
}

// ParseSettlementReport reads a Stripe itemized balance-change or payout
// reconciliation report (balance_change_from_activity.itemized.*,
// payout_reconciliation.itemized.*) as CSV, streaming, and calls fn per
// row; see providers.ParseCSVReport for the rules and errors. Columns are
// found by name (ReportColumns), so request at least those with
// columns[] when running the report: Stripe's default set is unverified.
// gross, fee and net are major units ("12.50"; "15000" KRW), with
// net = gross - fee. reporting_category maps to a provider-neutral category
// (ReportCategory).
func (c *Client) ParseSettlementReport(ctx context.Context, r io.Reader, fn func(providers.ReportLine) error) error {
	return providers.ParseCSVReport(ctx, r, reportFormat, fn)
}

var reportFormat = providers.ReportFormat{
	Provider: "stripe",
	Columns:  ReportColumns(),
	Category: ReportCategory,
}

// ReportColumns returns the report columns ParseSettlementReport reads:
// the columns[] to ask for when running a report.
func ReportColumns() map[providers.ReportField]string {
	return map[providers.ReportField]string{
		providers.ReportID:           "balance_transaction_id",
		providers.ReportCreated:      "created_utc",
		providers.ReportCategory:     "reporting_category",
		providers.ReportGross:        "gross",
		providers.ReportFeeAmount:    "fee",
		providers.ReportNet:          "net",
		providers.ReportCurrency:     "currency",
		providers.ReportPaymentRef:   "payment_intent_id",
		providers.ReportPaymentOrder: "payment_metadata[" + MetadataPaymentOrder + "]",
		providers.ReportAttempt:      "payment_metadata[" + MetadataAttempt + "]",
	}
}

// ReportCategory maps a Stripe reporting_category to a provider-neutral
// report category (providers.ReportOther for any it does not know; Stripe's
// full list is unverified).
func ReportCategory(rc string) string {
	switch strings.ToLower(rc) {
	case "charge":
		return providers.ReportCharge
	case "refund", "refund_failure":
		return providers.ReportRefund
	case "fee", "network_cost":
		return providers.ReportFee
	case "payout", "payout_reversal":
		return providers.ReportPayout
	case "dispute", "dispute_reversal":
		return providers.ReportDispute
	case "adjustment", "other_adjustment":
		return providers.ReportAdjustment
	}
	return providers.ReportOther
}

// logger returns the request's logger from ctx, if it has one, else the
// client's.
func (c *Client) logger(ctx context.Context) zerolog.Logger {
	if l := zerolog.Ctx(ctx); l.GetLevel() != zerolog.Disabled {
		return l.With().Str(FieldProvider, providers.Stripe).Logger()
	}
	return c.log
}

func requestID(r *stripego.APIResponse) string {
	if r == nil {
		return ""
	}
	return r.RequestID
}

// maxQuoted bounds how much of an outside string an error message quotes.
const maxQuoted = 64
