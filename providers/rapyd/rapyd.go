// Package rapyd is the Rapyd provider: iDEAL (EUR, a bank redirect),
// PayNow (SGD, a QR code), Boleto (BRL, a voucher), KakaoPay and Samsung
// Pay (KRW, wallet redirects), through Rapyd's HMAC-signed REST API.
//
// Every request carries the headers access_key, salt, timestamp and
// signature (see Signature); webhooks are verified with WebhookSignature
// over the webhook URL configured at Rapyd. Amounts cross the wire as
// numbers in major units (15000 KRW is 15000, 10.50 EUR is 10.5) and are
// written and read with shopspring/decimal, never float64.
//
// Rapyd names its payment method types <country>_<name>_<category>; the
// names of iDEAL, Boleto, KakaoPay and Samsung Pay are published nowhere we
// looked. The client takes each method's type from Rapyd's list of the
// payment methods of the method's country and currency, cached (see
// ResolveMethodType), unless Config.MethodTypes names it.
//
// An order is paid on the PAYMENT_COMPLETED webhook (status CLO), not on
// PAYMENT_SUCCEEDED, which Rapyd sends when the payment is created and the
// buyer has not paid yet. A refund (POST /v1/refunds, closed payments only)
// goes from Pending to Completed (REFUND_COMPLETED) or Rejected
// (PAYMENT_REFUND_REJECTED); whether a method's payments are refunded is
// its type's is_refundable in Rapyd's list, unless Config.Refundable says.
package rapyd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/redact"
)

// The Rapyd API hosts.
const (
	SandboxURL    = "https://sandboxapi.rapyd.net"
	ProductionURL = "https://api.rapyd.net"
)

// Defaults of Config.
const (
	// DefaultCountry is the country of KakaoPay and Samsung Pay.
	DefaultCountry          = "KR"
	DefaultTimeout          = 30 * time.Second
	DefaultWebhookTolerance = 300 * time.Second
)

// maxResponse bounds the bytes read from a Rapyd response.
const maxResponse = 1 << 20

// maxReferenceLen is the longest merchant_reference_id Rapyd takes.
const maxReferenceLen = 45

// Config configures a Client.
type Config struct {
	// AccessKey and SecretKey are the Rapyd API keys. Both are required.
	AccessKey, SecretKey string
	// BaseURL is the API root: "" means SandboxURL; ProductionURL, or the
	// sandbox simulator's mount such as "http://127.0.0.1:8080/sandbox/rapyd".
	// Requests are signed over the path below BaseURL ("/v1/payments"), as
	// Rapyd signs the path below its host.
	BaseURL string
	// WebhookURL is the public URL of our /webhooks/rapyd endpoint as
	// configured at Rapyd: Rapyd signs it. If empty, ParseWebhook uses the
	// URL of each Webhook.
	WebhookURL string
	// MethodTypes maps a method to its Rapyd payment method type; a method
	// it does not name takes its type from Rapyd's list
	// (ResolveMethodType). Any method of the catalog may be named.
	MethodTypes map[providers.Method]string
	// Countries maps a method to the country (ISO 3166-1 alpha-2) whose
	// Rapyd payment methods serve it; entries override DefaultCountries.
	Countries map[providers.Method]string
	// MethodListTTL is how long a list of payment method types is used;
	// 0 means DefaultMethodListTTL.
	MethodListTTL time.Duration
	// Refundable says, per method, whether Refund asks Rapyd to refund its
	// payments; a method it does not name is refunded if its type's
	// is_refundable in Rapyd's list says so. A method that is not
	// refundable makes Refund return an error wrapping
	// providers.ErrUnsupported without creating a refund.
	Refundable map[providers.Method]bool
	// ReportColumns maps a report field to the column header of Rapyd's
	// reconciliation report that holds it; entries override
	// DefaultReportColumns, whose names are invented (Rapyd's are not
	// public). An entry for an optional field with an empty header drops
	// that column.
	ReportColumns map[providers.ReportField]string
	// Country, if set, is the country of KakaoPay and Samsung Pay, the
	// methods of earlier versions; Countries overrides it. Deprecated:
	// use Countries.
	Country string
	// HTTPClient sends the requests; nil means a client with DefaultTimeout.
	HTTPClient *http.Client
	// WebhookTolerance is how far a webhook's timestamp may be from its
	// Webhook.ReceivedAt, in either direction; 0 means
	// DefaultWebhookTolerance.
	WebhookTolerance time.Duration
	// Expiration, if set, makes each payment expire this long after it is
	// created (Rapyd's expiration field); 0 leaves Rapyd's default, which is
	// two weeks for non-card methods.
	Expiration time.Duration
	// Now gives the request timestamps and the time of webhooks received
	// without a ReceivedAt; nil means time.Now.
	Now func() time.Time
	// Rand gives the salts; nil means crypto/rand. Reads are serialised.
	Rand io.Reader
	// Logger receives a debug line per API call, unless the context carries
	// a logger (zerolog.Ctx), which is then used instead.
	Logger zerolog.Logger
}

// Client is the Rapyd provider. It is safe for concurrent use.
type Client struct {
	accessKey, secretKey string
	accessHint           string // the access key's prefix and last 4, for Event.Verification
	baseURL              string
	webhookURL           string
	methodTypes          map[providers.Method]string // configured only
	countries            map[providers.Method]string
	refundable           map[providers.Method]bool // configured only
	ttl                  time.Duration
	cache                methodCache
	report               providers.ReportFormat
	http                 *http.Client
	tolerance            time.Duration
	expiration           time.Duration
	now                  func() time.Time
	logger               zerolog.Logger

	randMu sync.Mutex
	rand   io.Reader
}

var (
	_ providers.Provider = (*Client)(nil)
	_ providers.Finder   = (*Client)(nil)
)

// New returns a client. It returns an EINVALID error for missing keys, a
// BaseURL or WebhookURL that is not an absolute http(s) URL, or a method
// type, country or refundability for a method not in the catalog, an
// empty type, a country that is not two letters, or a ReportColumns entry
// for an unknown field, an empty header of a required field, or two fields
// on one header.
func New(cfg Config) (*Client, error) {
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, paygate.Errorf(paygate.EINVALID, "rapyd: the access key and the secret key are required")
	}
	c := &Client{
		accessKey:   cfg.AccessKey,
		accessHint:  keyHint(cfg.AccessKey),
		secretKey:   cfg.SecretKey,
		baseURL:     strings.TrimRight(cfg.BaseURL, "/"),
		webhookURL:  cfg.WebhookURL,
		methodTypes: map[providers.Method]string{},
		countries:   DefaultCountries(),
		refundable:  map[providers.Method]bool{},
		ttl:         cfg.MethodListTTL,
		cache:       methodCache{lists: map[listKey]cachedList{}},
		http:        cfg.HTTPClient,
		tolerance:   cfg.WebhookTolerance,
		expiration:  cfg.Expiration,
		now:         cfg.Now,
		rand:        cfg.Rand,
		logger:      cfg.Logger.With().Str(fieldProvider, providers.Rapyd).Logger(),
	}
	if c.baseURL == "" {
		c.baseURL = SandboxURL
	}
	if err := checkURL("BaseURL", c.baseURL); err != nil {
		return nil, err
	}
	if c.webhookURL != "" {
		if err := checkURL("WebhookURL", c.webhookURL); err != nil {
			return nil, err
		}
	}
	if err := c.setMethods(cfg); err != nil {
		return nil, err
	}
	report, err := reportFormat(cfg.ReportColumns)
	if err != nil {
		return nil, err
	}
	c.report = report
	c.setDefaults()
	return c, nil
}

// setMethods takes cfg's method types, countries and refundability, each of
// a method in the catalog, and checks that every method type is given and
// every country is two letters (kept upper case).
func (c *Client) setMethods(cfg Config) error {
	known := func(m providers.Method) error {
		if _, ok := providers.Lookup(m); !ok {
			return paygate.Errorf(paygate.EINVALID, "rapyd: %q is not a payment method paygate knows", paygate.Clip(string(m), 32))
		}
		return nil
	}
	for m, t := range cfg.MethodTypes {
		if err := known(m); err != nil {
			return err
		}
		if t == "" {
			return paygate.Errorf(paygate.EINVALID, "rapyd: the payment method type of %s is empty", m)
		}
		c.methodTypes[m] = t
	}
	if cfg.Country != "" {
		c.countries[providers.KakaoPay], c.countries[providers.SamsungPay] = cfg.Country, cfg.Country
	}
	for m, cc := range cfg.Countries {
		if err := known(m); err != nil {
			return err
		}
		c.countries[m] = cc
	}
	for m, cc := range c.countries {
		if len(cc) != 2 || normalizeName(cc) != strings.ToLower(cc) {
			return paygate.Errorf(paygate.EINVALID, "rapyd: the country %q of %s is not an ISO 3166-1 alpha-2 code", paygate.Clip(cc, 8), m)
		}
		c.countries[m] = strings.ToUpper(cc)
	}
	for m, ok := range cfg.Refundable {
		if err := known(m); err != nil {
			return err
		}
		c.refundable[m] = ok
	}
	return nil
}

// setDefaults fills in the defaults of the settings Config left unset.
func (c *Client) setDefaults() {
	if c.ttl <= 0 {
		c.ttl = DefaultMethodListTTL
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	if c.tolerance <= 0 {
		c.tolerance = DefaultWebhookTolerance
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
}

// checkURL refuses, with an EINVALID error naming setting name, an s that
// is not an absolute http(s) URL.
func checkURL(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return paygate.Errorf(paygate.EINVALID, "rapyd: %s %q is not an absolute http(s) URL", name, paygate.Clip(s, 64))
	}
	return nil
}

// Name returns providers.Rapyd.
func (c *Client) Name() string { return providers.Rapyd }

// CreatePayment creates a payment with POST /v1/payments and returns it,
// pending with its next action: a redirect to the bank's or wallet's page
// (iDEAL, KakaoPay, Samsung Pay), a QR code (PayNow) or a voucher
// (Boleto). The payment method type is ResolveMethodType's; a method that
// needs the payer (Boleto) sends the fields its type requires, filled from
// req.Payer. The request's IdempotencyKey is sent as the idempotency header
// (Rapyd replays the first response for 24 h to the same key and amount,
// whatever else differs); a replayed payment of another amount, currency
// or payment method type than the request is an ECONFLICT error. The
// attempt id is the payment's merchant_reference_id, which FindPayment
// looks up.
//
// It returns an EINVALID error without creating a payment for a method
// not in the catalog, a currency that is not the method's, an amount that
// is not positive, a redirect method without ReturnURL, an Attempt longer
// than 45 characters, or a payer without what the method needs (a valid
// CPF or CNPJ for Boleto); an EUNAVAILABLE error wrapping
// providers.ErrMethodUnavailable when Rapyd does not list the method or
// answers that its type is not available to the account
// (ERROR_GET_PAYMENT_METHOD_TYPE); an EINVALID error with Rapyd's message
// when Rapyd refuses the request; and an EUNAVAILABLE error when Rapyd
// cannot be reached or fails.
func (c *Client) CreatePayment(ctx context.Context, req providers.PaymentRequest) (providers.Payment, error) {
	mi, err := checkCreate(req)
	if err != nil {
		return providers.Payment{}, err
	}
	// A configured type needs no list, unless its fields are needed.
	t := MethodType{Type: c.methodTypes[req.Method]}
	if t.Type == "" || mi.NeedsPayer {
		t, err = c.ResolveMethodType(ctx, req.Method)
	}
	if err != nil {
		return providers.Payment{}, fmt.Errorf("create payment for attempt %s: %w", req.Attempt, err)
	}
	fields, err := methodFields(mi, t, req.Payer)
	if err != nil {
		return providers.Payment{}, err
	}
	body := c.createBody(req, t.Type, fields)
	data, err := c.call(ctx, http.MethodPost, "/v1/payments", body, req.IdempotencyKey)
	if err != nil {
		if methodUnavailable(err) {
			// The list may be stale: resolve afresh next time.
			c.cache.drop(listKey{country: c.countries[req.Method], currency: mi.Currency})
			err = &paygate.Error{Code: paygate.EUNAVAILABLE,
				Message: fmt.Sprintf("rapyd: %s (%s) is not available to this Rapyd account: %s", mi.Label, t.Type, paygate.ErrorMessage(err)),
				Err:     providers.ErrMethodUnavailable}
		}
		return providers.Payment{}, fmt.Errorf("create payment for attempt %s: %w", req.Attempt, err)
	}
	var raw payment
	if err := json.Unmarshal(data, &raw); err != nil {
		return providers.Payment{}, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: unreadable payment in the response", Err: err}
	}
	p, err := toPayment(raw)
	if err != nil {
		return providers.Payment{}, err
	}
	// Rapyd replays the first response to a key and an amount, whatever
	// else differs: a replay of another payment must not pass for this one.
	if raw.PaymentMethodType != "" && raw.PaymentMethodType != body.PaymentMethod.Type {
		return providers.Payment{}, paygate.Errorf(paygate.ECONFLICT,
			"rapyd: payment %s is a %s payment, not %s: the idempotency key %q was used for another payment",
			p.Ref, paygate.Clip(raw.PaymentMethodType, 64), body.PaymentMethod.Type, paygate.Clip(req.IdempotencyKey, 64))
	}
	if p.Amount != req.Amount {
		return providers.Payment{}, paygate.Errorf(paygate.ECONFLICT,
			"rapyd: payment %s is for %s, not %s: the idempotency key %q was used for another payment",
			p.Ref, p.Amount, req.Amount, paygate.Clip(req.IdempotencyKey, 64))
	}
	return p, nil
}

// checkCreate refuses a payment request that cannot be sent.
func checkCreate(req providers.PaymentRequest) (providers.MethodInfo, error) {
	mi, ok := providers.Lookup(req.Method)
	if !ok {
		return mi, paygate.Errorf(paygate.EINVALID, "rapyd: %q is not a payment method paygate knows", paygate.Clip(string(req.Method), 32))
	}
	if req.Amount.Currency != mi.Currency {
		return mi, paygate.Errorf(paygate.EINVALID,
			"rapyd: %s takes %s, not %q", mi.Label, mi.Currency, req.Amount.Currency)
	}
	if req.Amount.Minor <= 0 {
		return mi, paygate.Errorf(paygate.EINVALID, "rapyd: the amount %s is not positive", req.Amount)
	}
	if req.ReturnURL == "" && mi.Action == providers.ActionRedirect {
		return mi, paygate.Errorf(paygate.EINVALID, "rapyd: a return URL is required for %s", mi.Label)
	}
	if req.Attempt == "" || len(req.Attempt) > maxReferenceLen {
		return mi, paygate.Errorf(paygate.EINVALID,
			"rapyd: the attempt id %q must have 1 to %d characters", paygate.Clip(req.Attempt, 64), maxReferenceLen)
	}
	return mi, nil
}

func (c *Client) createBody(req providers.PaymentRequest, typ string, fields map[string]string) createPayment {
	body := createPayment{
		Amount:              majorUnits(req.Amount),
		Currency:            string(req.Amount.Currency),
		PaymentMethod:       paymentMethod{Type: typ, Fields: fields},
		CompletePaymentURL:  req.ReturnURL,
		ErrorPaymentURL:     req.ReturnURL,
		MerchantReferenceID: req.Attempt,
		Description:         req.Description,
		Metadata:            paymentMetadata{PaymentOrder: req.PaymentOrder, Attempt: req.Attempt},
	}
	if c.expiration > 0 {
		body.Expiration = c.now().Add(c.expiration).Unix()
	}
	return body
}

// methodUnavailableCodes are Rapyd's error codes that say a payment
// method type is not available to the account: ERROR_GET_PAYMENT_METHOD_TYPE
// ("the payment method type was not recognized or is not available for
// this merchant", Rapyd's error codes page and OpenAPI example).
var methodUnavailableCodes = []string{"ERROR_GET_PAYMENT_METHOD_TYPE"}

// methodUnavailable reports whether err is Rapyd refusing a request for
// a payment method type the account cannot use.
func methodUnavailable(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && slices.Contains(methodUnavailableCodes, ae.code)
}

// apiError is the error_code of a request Rapyd refused, the cause of the
// *paygate.Error call returns.
type apiError struct{ code string }

func (e *apiError) Error() string { return "rapyd error code " + e.code }

// GetPayment returns a payment's current state (GET /v1/payments/{ref}). An
// unknown payment is an ENOTFOUND error when Rapyd answers 404, EINVALID
// when it answers another 4xx.
func (c *Client) GetPayment(ctx context.Context, ref string) (providers.Payment, error) {
	if err := checkRef(ref); err != nil {
		return providers.Payment{}, err
	}
	data, err := c.call(ctx, http.MethodGet, "/v1/payments/"+ref, nil, "")
	if err != nil {
		return providers.Payment{}, fmt.Errorf("get payment %s: %w", ref, err)
	}
	return decodePayment(data)
}

// CancelPayment cancels an active payment with DELETE /v1/payments/{ref}.
// When Rapyd refuses, it fetches the payment to say why: a payment already
// canceled, expired, failed or reversed is not payable, and that is success;
// a paid (CLO) payment is an ECONFLICT error; a payment still active is
// providers.ErrNotCancelable (its method is not cancelable).
func (c *Client) CancelPayment(ctx context.Context, ref string) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	data, err := c.call(ctx, http.MethodDelete, "/v1/payments/"+ref, nil, "")
	if err == nil {
		p, err := decodePayment(data)
		if err != nil {
			return err
		}
		return cancelOutcome(p)
	}
	if paygate.ErrorCode(err) != paygate.EINVALID {
		return fmt.Errorf("cancel payment %s: %w", ref, err)
	}
	p, getErr := c.GetPayment(ctx, ref)
	if getErr != nil {
		return fmt.Errorf("cancel payment %s: %w", ref, getErr)
	}
	return cancelOutcome(p)
}

func cancelOutcome(p providers.Payment) error {
	switch p.Status {
	case providers.StatusSucceeded:
		return paygate.Errorf(paygate.ECONFLICT, "rapyd: payment %s is paid (CLO) and cannot be canceled", p.Ref)
	case providers.StatusPending, providers.StatusProcessing:
		return fmt.Errorf("rapyd: cancel payment %s: %w", p.Ref, providers.ErrNotCancelable)
	default:
		return nil
	}
}

// DefaultReportColumns returns the column headers of Rapyd's reconciliation
// report that ParseSettlementReport reads when Config.ReportColumns does not
// name them. Rapyd does not publish the report's columns: these names are
// invented and unverified; set Config.ReportColumns to the headers of a
// real report. The attempt is the payment's merchant_reference_id, which
// CreatePayment sets to the attempt id.
func DefaultReportColumns() map[providers.ReportField]string {
	return map[providers.ReportField]string{
		providers.ReportID:           "transaction_id",
		providers.ReportCreated:      "created_at",
		providers.ReportCategory:     "transaction_type",
		providers.ReportGross:        "gross_amount",
		providers.ReportFeeAmount:    "fee_amount",
		providers.ReportNet:          "net_amount",
		providers.ReportCurrency:     "currency",
		providers.ReportPaymentRef:   "payment_id",
		providers.ReportPaymentOrder: "metadata_payment_order",
		providers.ReportAttempt:      "merchant_reference_id",
	}
}

// reportFormat merges cfg over DefaultReportColumns and checks it.
func reportFormat(cfg map[providers.ReportField]string) (providers.ReportFormat, error) {
	cols := DefaultReportColumns()
	for f, h := range cfg {
		if _, known := cols[f]; !known {
			return providers.ReportFormat{}, paygate.Errorf(paygate.EINVALID, "rapyd: %q is not a report field", paygate.Clip(string(f), 64))
		}
		h = strings.TrimSpace(h)
		if h == "" && f.Required() {
			return providers.ReportFormat{}, paygate.Errorf(paygate.EINVALID, "rapyd: the report column of %q is empty", f)
		}
		cols[f] = h
	}
	seen := map[string]providers.ReportField{}
	for _, f := range providers.ReportFields() {
		h := strings.ToLower(cols[f])
		if h == "" {
			continue
		}
		if g, dup := seen[h]; dup {
			return providers.ReportFormat{}, paygate.Errorf(paygate.EINVALID, "rapyd: the report fields %q and %q have the same column %q", g, f, paygate.Clip(cols[f], 64))
		}
		seen[h] = f
	}
	return providers.ReportFormat{Provider: "rapyd", Columns: cols, Category: ReportCategory}, nil
}

// ReportCategory maps a Rapyd transaction type of the reconciliation report
// to a provider-neutral report category (providers.ReportOther for any it
// does not know). Rapyd's names are unverified: these follow its API's
// vocabulary (payments, refunds, chargebacks, payouts, fees).
func ReportCategory(t string) string {
	switch strings.ToLower(t) {
	case "payment", "collect":
		return providers.ReportCharge
	case "refund", "reversal":
		return providers.ReportRefund
	case "fee", "fees":
		return providers.ReportFee
	case "payout", "settlement":
		return providers.ReportPayout
	case "chargeback", "dispute":
		return providers.ReportDispute
	case "adjustment":
		return providers.ReportAdjustment
	}
	return providers.ReportOther
}

// ParseSettlementReport reads Rapyd's merchant reconciliation report as
// CSV, streaming, and calls fn per row; see providers.ParseCSVReport for
// the rules and errors. Columns are found by the headers of
// Config.ReportColumns (DefaultReportColumns). Amounts are major units
// ("15000" KRW), signed as the balance moved, with net = gross - fee.
func (c *Client) ParseSettlementReport(ctx context.Context, r io.Reader, fn func(providers.ReportLine) error) error {
	return providers.ParseCSVReport(ctx, r, c.report, fn)
}

// checkRef refuses a payment id that cannot be one, so that it never has to
// be escaped into a signed path.
func checkRef(ref string) error {
	if ref == "" || len(ref) > 64 {
		return paygate.Errorf(paygate.EINVALID, "rapyd: invalid payment id %q", paygate.Clip(ref, 64))
	}
	for i := 0; i < len(ref); i++ {
		b := ref[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
			return paygate.Errorf(paygate.EINVALID, "rapyd: invalid payment id %q", paygate.Clip(ref, 64))
		}
	}
	return nil
}

func decodePayment(data json.RawMessage) (providers.Payment, error) {
	var p payment
	if err := json.Unmarshal(data, &p); err != nil {
		return providers.Payment{}, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: unreadable payment in the response", Err: err}
	}
	return toPayment(p)
}

// call sends a signed request and returns the data of a SUCCESS response.
// path is below BaseURL and may hold a query; body, if not nil, is sent as
// compact JSON. Errors are *paygate.Error: EINVALID (or ENOTFOUND for 404)
// with Rapyd's message when Rapyd refuses the request, EUNAVAILABLE when it
// cannot be reached, fails (5xx, 429), refuses our credentials (401, 403) or
// answers something unreadable.
func (c *Client) call(ctx context.Context, method, path string, body any, idempotencyKey string) (json.RawMessage, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = encodeJSON(body); err != nil {
			return nil, &paygate.Error{Code: paygate.EINTERNAL, Message: "rapyd: encode request", Err: err}
		}
	}
	salt, err := c.salt()
	if err != nil {
		return nil, err
	}
	ts := c.now().Unix()

	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, bytes.NewReader(payload))
	if err != nil {
		return nil, &paygate.Error{Code: paygate.EINTERNAL, Message: "rapyd: build request", Err: err}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("access_key", c.accessKey)
	h.Set("salt", salt)
	h.Set("timestamp", strconv.FormatInt(ts, 10))
	h.Set("signature", Signature(method, path, salt, ts, c.accessKey, c.secretKey, payload))
	if idempotencyKey != "" {
		h.Set("idempotency", idempotencyKey)
	}

	log := c.log(ctx)
	apiPath, _, _ := strings.Cut(path, "?")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: " + method + " " + apiPath + ": Rapyd cannot be reached", Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err == nil && len(raw) > maxResponse {
		err = errors.New("response larger than 1 MiB")
	}
	if err != nil {
		return nil, &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "rapyd: " + method + " " + apiPath + ": reading the response failed", Err: err}
	}
	var env response
	decodeErr := json.Unmarshal(raw, &env)
	log.Debug().
		Str(fieldMethod, method).
		Str(fieldPath, apiPath).
		Int(fieldStatus, resp.StatusCode).
		Float64(fieldDurationMS, float64(time.Since(start).Microseconds())/1000).
		Str(fieldOperationID, env.Status.OperationID).
		Str(fieldErrorCode, env.Status.ErrorCode).
		Msg("rapyd call")

	if resp.StatusCode >= 200 && resp.StatusCode < 300 && decodeErr == nil && env.Status.Status != "ERROR" {
		if len(env.Data) == 0 || string(env.Data) == "null" {
			return nil, paygate.Errorf(paygate.EUNAVAILABLE, "rapyd: %s %s: the response has no data", method, apiPath)
		}
		return env.Data, nil
	}
	return nil, callError(method, apiPath, resp.StatusCode, env.Status, decodeErr)
}

// callError is the error of a response that is not a success.
func callError(method, path string, status int, st responseStatus, decodeErr error) error {
	what := fmt.Sprintf("rapyd: %s %s: HTTP %d", method, path, status)
	if decodeErr == nil && (st.Message != "" || st.ErrorCode != "") {
		// Rapyd's messages may echo request fields: masked (package redact).
		what = "rapyd: " + redact.String(firstOf(st.Message, st.ErrorCode))
		if st.ErrorCode != "" && st.Message != "" {
			what += " (" + st.ErrorCode + ")"
		}
	}
	code := paygate.EUNAVAILABLE
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// Our keys or signature were refused: no request of ours can pass
		// until the configuration is fixed, which is an outage, not a bad
		// request of the caller's.
		what += " (check the Rapyd access and secret keys)"
	case status == http.StatusNotFound:
		code = paygate.ENOTFOUND
	case status == http.StatusTooManyRequests:
	case status >= 400 && status < 500:
		code = paygate.EINVALID
	case status >= 200 && status < 300 && decodeErr == nil:
		code = paygate.EINVALID // a SUCCESS HTTP status with an ERROR body
	}
	if decodeErr != nil {
		return &paygate.Error{Code: code, Message: what + ": unreadable response", Err: decodeErr}
	}
	if st.ErrorCode != "" {
		return &paygate.Error{Code: code, Message: what, Err: &apiError{code: st.ErrorCode}}
	}
	return &paygate.Error{Code: code, Message: what}
}

// salt returns 16 random hex characters.
func (c *Client) salt() (string, error) {
	var b [8]byte
	c.randMu.Lock()
	_, err := io.ReadFull(c.rand, b[:])
	c.randMu.Unlock()
	if err != nil {
		return "", &paygate.Error{Code: paygate.EINTERNAL, Message: "rapyd: no randomness for the salt", Err: err}
	}
	return hex.EncodeToString(b[:]), nil
}

// log returns the context's logger if it carries one, else the configured
// logger.
func (c *Client) log(ctx context.Context) *zerolog.Logger {
	if l := zerolog.Ctx(ctx); l != zerolog.DefaultContextLogger && l.GetLevel() != zerolog.Disabled {
		l := l.With().Str(fieldProvider, providers.Rapyd).Logger()
		return &l
	}
	return &c.logger
}
