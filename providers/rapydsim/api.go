package rapydsim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
	"github.com/paygate/paygate/providers/simkit"
	"github.com/paygate/paygate/taxid"
	"github.com/skip2/go-qrcode"
)

// maxRequest bounds an API request body.
const maxRequest = 1 << 20

// maxReferenceLen is the longest merchant_reference_id Rapyd takes.
const maxReferenceLen = 45

func (s *Simulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/payments", s.signed(s.createPayment))
	mux.Handle("GET /v1/payments", s.signed(s.listPayments))
	mux.Handle("GET /v1/payments/{id}", s.signed(s.getPayment))
	mux.Handle("DELETE /v1/payments/{id}", s.signed(s.cancelPayment))
	mux.Handle("POST /v1/refunds", s.signed(s.createRefund))
	mux.Handle("GET /v1/refunds/{id}", s.signed(s.getRefund))
	mux.Handle("GET /v1/payment_methods/countries/{country}", s.signed(s.listMethods))
	mux.Handle("/v1/", s.signed(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		s.apiError(w, http.StatusNotFound, "NOT_FOUND", "The request tried an endpoint that the Rapyd sandbox simulator does not have.")
	}))
	mux.HandleFunc("GET /reports/settlement.csv", s.serveReport)
	mux.HandleFunc("GET /pay/{id}", s.payPage)
	mux.HandleFunc("POST /pay/{id}/approve", s.payAnswer)
	mux.HandleFunc("POST /pay/{id}/decline", s.payAnswer)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.pageError(w, http.StatusNotFound, "There is nothing here.")
	})
	return mux
}

// The JSON of the API.

type envelope struct {
	Status status `json:"status"`
	Data   any    `json:"data,omitempty"`
}

type status struct {
	ErrorCode    string `json:"error_code"`
	Status       string `json:"status"`
	Message      string `json:"message"`
	ResponseCode string `json:"response_code"`
	OperationID  string `json:"operation_id"`
}

type createRequest struct {
	Amount        json.Number `json:"amount"`
	Currency      string      `json:"currency"`
	PaymentMethod struct {
		Type   string            `json:"type"`
		Fields map[string]string `json:"fields"`
	} `json:"payment_method"`
	CompletePaymentURL  string          `json:"complete_payment_url"`
	ErrorPaymentURL     string          `json:"error_payment_url"`
	MerchantReferenceID string          `json:"merchant_reference_id"`
	Description         string          `json:"description"`
	Expiration          int64           `json:"expiration"`
	Metadata            json.RawMessage `json:"metadata"`
}

// paymentObject is Rapyd's payment object, the fields the simulator fills.
type paymentObject struct {
	ID                        string            `json:"id"`
	Amount                    json.Number       `json:"amount"`
	OriginalAmount            json.Number       `json:"original_amount"`
	CurrencyCode              string            `json:"currency_code"`
	CountryCode               string            `json:"country_code"`
	Status                    string            `json:"status"`
	Description               string            `json:"description"`
	MerchantReferenceID       string            `json:"merchant_reference_id"`
	PaymentMethodType         string            `json:"payment_method_type"`
	PaymentMethodTypeCategory string            `json:"payment_method_type_category"`
	RedirectURL               string            `json:"redirect_url"`
	CompletePaymentURL        string            `json:"complete_payment_url"`
	ErrorPaymentURL           string            `json:"error_payment_url"`
	NextAction                string            `json:"next_action"`
	Instructions              []instruction     `json:"instructions"`
	TextualCodes              map[string]string `json:"textual_codes"`
	VisualCodes               map[string]string `json:"visual_codes"`
	Captured                  bool              `json:"captured"`
	Paid                      bool              `json:"paid"`
	PaidAt                    int64             `json:"paid_at"`
	Refunded                  bool              `json:"refunded"`
	RefundedAmount            json.Number       `json:"refunded_amount"`
	Refunds                   refundList        `json:"refunds"`
	FailureCode               string            `json:"failure_code"`
	FailureMessage            string            `json:"failure_message"`
	CancelReason              *string           `json:"cancel_reason"`
	Expiration                int64             `json:"expiration"`
	Metadata                  json.RawMessage   `json:"metadata"`
	CreatedAt                 int64             `json:"created_at"`
}

// instruction is a step list of a payment's instructions.
type instruction struct {
	Name  string              `json:"name"`
	Steps []map[string]string `json:"steps"`
}

type methodTypeObject struct {
	Type                   string        `json:"type"`
	Name                   string        `json:"name"`
	Category               string        `json:"category"`
	Country                string        `json:"country"`
	Currencies             []string      `json:"currencies"`
	AmountRangePerCurrency []amountRange `json:"amount_range_per_currency"`
	IsCancelable           bool          `json:"is_cancelable"`
	IsRefundable           bool          `json:"is_refundable"`
	IsExpirable            bool          `json:"is_expirable"`
	IsOnline               bool          `json:"is_online"`
	PaymentFlowType        string        `json:"payment_flow_type"`
	Fields                 []fieldObject `json:"fields"`
}

type amountRange struct {
	Currency      string      `json:"currency"`
	MinimumAmount json.Number `json:"minimum_amount"`
	MaximumAmount json.Number `json:"maximum_amount"`
}

// major renders money as Rapyd writes it: a JSON number in major units
// (15000 KRW, 10.5 EUR).
func major(m paygate.Money) json.Number { return json.Number(m.Decimal().String()) }

// object renders a payment as Rapyd does. Call it with s.mu held or on a
// copy.
func (s *Simulator) object(p *payment) paymentObject {
	amount := major(p.amount)
	o := paymentObject{
		ID:                        p.id,
		Amount:                    amount,
		OriginalAmount:            amount,
		CurrencyCode:              string(p.amount.Currency),
		CountryCode:               p.offer.country,
		Status:                    p.status,
		Description:               p.description,
		MerchantReferenceID:       p.reference,
		PaymentMethodType:         p.methodType,
		PaymentMethodTypeCategory: p.offer.category,
		CompletePaymentURL:        p.completeURL,
		ErrorPaymentURL:           p.errorURL,
		NextAction:                "not_applicable",
		Instructions:              []instruction{},
		TextualCodes:              map[string]string{},
		VisualCodes:               map[string]string{},
		Captured:                  true,
		Paid:                      p.status == statusClosed,
		RefundedAmount:            major(paygate.New(p.refunded(), p.amount.Currency)),
		Refunds:                   refundList{Data: []refundObject{}},
		FailureCode:               p.failureCode,
		FailureMessage:            p.failureMessage,
		Expiration:                p.expiration,
		Metadata:                  p.metadata,
		CreatedAt:                 p.createdAt.Unix(),
	}
	switch {
	case p.qr != "":
		// The QR stays on the payment whatever its status, as Rapyd
		// keeps a payment's codes.
		o.TextualCodes["PayNow QR"] = p.qr
		o.VisualCodes["PayNow QR"] = p.qrPNG
		o.Instructions = append(o.Instructions, instruction{Name: "instructions", Steps: []map[string]string{
			{"step1": "Open your bank's app and choose PayNow."},
			{"step2": "Scan the PayNow QR code and confirm the amount."},
		}})
	case p.voucher != "":
		o.TextualCodes["Boleto code"] = p.voucher
		o.RedirectURL = s.cfg.BaseURL + "/pay/" + p.id
		o.Instructions = append(o.Instructions, instruction{Name: "instructions", Steps: []map[string]string{
			{"step1": "Print the boleto or copy its code."},
			{"step2": "Pay it at a bank, a lottery agent, an ATM or in your bank's app before it expires."},
		}})
	default:
		o.RedirectURL = s.cfg.BaseURL + "/pay/" + p.id
	}
	if p.status == statusActive {
		o.NextAction = "pending_confirmation"
	}
	o.Refunded = p.refunded() != 0
	for i := len(p.refunds) - 1; i >= 0; i-- { // newest first
		o.Refunds.Data = append(o.Refunds.Data, p.refunds[i].object(p))
	}
	o.Refunds.TotalCount = len(p.refunds)
	if !p.paidAt.IsZero() {
		o.PaidAt = p.paidAt.Unix()
	}
	if p.cancelReason != "" {
		o.CancelReason = &p.cancelReason
	}
	return o
}

// apiHandler handles a verified API request with its body.
type apiHandler func(w http.ResponseWriter, r *http.Request, body []byte)

// signed verifies a request as Rapyd does before handing it to h: the
// access key, a timestamp within a minute of now, and the signature over
// the method, the path and query below the mount, the salt, the timestamp,
// the keys and the exact body. Anything else is 401
// UNAUTHENTICATED_API_CALL.
func (s *Simulator) signed(h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
		if err != nil {
			s.apiError(w, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", "The request body is larger than 1 MiB.")
			return
		}
		if problem := s.checkSignature(r, body); problem != "" {
			s.log.Info().Str(fieldMethod, r.Method).Str(fieldPath, r.URL.Path).Str(fieldReason, problem).Msg("rapydsim: request refused")
			s.apiError(w, http.StatusUnauthorized, "UNAUTHENTICATED_API_CALL",
				"The API received a request, but the signature did not match. The request was rejected. "+problem)
			return
		}
		h(w, r, body)
	})
}

// checkSignature returns what is wrong with a request's authentication, or
// "" if nothing is.
func (s *Simulator) checkSignature(r *http.Request, body []byte) string {
	h := r.Header
	accessKey, salt, tsText, sig := h.Get("access_key"), h.Get("salt"), h.Get("timestamp"), h.Get("signature")
	switch {
	case accessKey == "" || salt == "" || tsText == "" || sig == "":
		return "(1) Send the access_key, salt, timestamp and signature headers."
	case accessKey != s.cfg.AccessKey:
		return "(1) The access key is not this account's."
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return "(1) The timestamp must be Unix seconds."
	}
	if d := s.now().Sub(time.Unix(ts, 0)); d > requestWindow || d < -requestWindow {
		return "(1) The timestamp is more than 60 seconds from the current time."
	}
	signedBody := body
	if string(body) == "{}" {
		signedBody = nil // Rapyd signs an empty object as the empty string
	}
	want := rapyd.Signature(r.Method, r.URL.RequestURI(), salt, ts, s.cfg.AccessKey, s.cfg.SecretKey, signedBody)
	if !hmacEqual(want, sig) {
		return "(1) Remove all whitespace that is not inside a string. (2) Remove trailing zeroes and decimal points, or wrap numbers in a string. (3) Sign the path below the host, query included."
	}
	return ""
}

// createPayment serves POST /v1/payments.
func (s *Simulator) createPayment(w http.ResponseWriter, r *http.Request, body []byte) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.apiError(w, http.StatusBadRequest, "INVALID_CONTENT_TYPE", "The request must have Content-Type application/json.")
		return
	}
	var req createRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil || dec.More() {
		s.apiError(w, http.StatusBadRequest, "INVALID_REQUEST_BODY", "The request body is not a JSON object of a payment.")
		return
	}
	o := s.byType[req.PaymentMethod.Type]
	if o == nil || !s.listed(o) {
		s.apiError(w, http.StatusBadRequest, "ERROR_GET_PAYMENT_METHOD_TYPE",
			"The request attempted an operation that requires a payment method, but the payment method type was not recognized or is not available for this merchant. "+
				"Corrective action: For the 'type' field in the 'payment_method' object or in the 'data' object, use a payment method type that this merchant is authorized to use.")
		return
	}
	amount, problem := s.validate(o, req)
	if problem != "" {
		s.apiError(w, http.StatusBadRequest, "ERROR_CREATE_PAYMENT", problem)
		return
	}

	now := s.now()
	key := r.Header.Get("idempotency")
	// Rapyd's default idempotency check compares the key and the amount.
	replayKey := key + "\x00" + string(major(amount))
	s.mu.Lock()
	if key != "" {
		if prev, ok := s.idempotency.Get(replayKey, now); ok {
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, prev)
			return
		}
	}
	p := &payment{
		id:          newID("payment_"),
		method:      o.method,
		methodType:  o.typ,
		offer:       o,
		amount:      amount,
		status:      statusActive,
		description: req.Description,
		reference:   req.MerchantReferenceID,
		metadata:    req.Metadata,
		completeURL: req.CompletePaymentURL,
		errorURL:    req.ErrorPaymentURL,
		expiration:  req.Expiration,
		createdAt:   now,
	}
	if len(p.metadata) == 0 || string(p.metadata) == "null" {
		p.metadata = json.RawMessage(`{}`)
	}
	if err := s.issueCodes(p, now); err != nil {
		s.mu.Unlock()
		s.log.Error().Err(err).Str(fieldPaymentRef, p.id).Msg("rapydsim: render the QR code")
		s.apiError(w, http.StatusInternalServerError, "INTERNAL_ERROR", "The simulator could not render the payment's QR code.")
		return
	}
	s.payments[p.id] = p
	out := s.response(s.object(p))
	if key != "" {
		s.idempotency.Put(replayKey, out, now)
	}
	batch := s.queue(p, s.newDelivery(typeSucceeded, p, now), false, now)
	s.trim(now)
	s.mu.Unlock()

	// Rapyd says PAYMENT_SUCCEEDED once the payment is created. It is sent
	// in the background: the caller may be waiting on this response inside a
	// database transaction that the webhook's receiver needs. It is handed
	// to delivery before the answer, so that a caller holding the answer
	// finds it there (the tests wait for the Deliverer to be idle).
	s.hooks.Send(r.Context(), batch, false)
	writeJSON(w, http.StatusOK, out)
}

// validate checks a create request for o and returns its amount, or
// what is wrong, in Rapyd's words.
func (s *Simulator) validate(o *offer, req createRequest) (paygate.Money, string) {
	cur := o.currency
	if req.Currency != string(cur) {
		return paygate.Money{}, "The request tried to create a payment in currency " + strconv.Quote(paygate.Clip(req.Currency, 64)) +
			", but payment method type " + o.typ + " takes " + string(cur) + " only."
	}
	if req.Amount == "" {
		return paygate.Money{}, "The request tried to create a payment without an amount."
	}
	m, err := paygate.ParseMoney(string(req.Amount), cur)
	if err != nil {
		return paygate.Money{}, "The request tried to create a payment with an invalid amount: " + paygate.ErrorMessage(err) +
			". Send a positive amount in major units, with at most the currency's decimal places."
	}
	if m.Minor <= 0 {
		return paygate.Money{}, "The request tried to create a payment with an invalid amount: it must be positive."
	}
	if m.Minor < o.min || m.Minor > o.max {
		return paygate.Money{}, "The request tried to create a payment of " + m.String() + ", outside the range " +
			paygate.New(o.min, cur).Amount() + " to " + paygate.New(o.max, cur).Amount() + " of " + o.typ + "."
	}
	urls := []struct{ name, value string }{
		{"complete_payment_url", req.CompletePaymentURL},
		{"error_payment_url", req.ErrorPaymentURL},
	}
	for _, u := range urls {
		if u.value == "" {
			if !o.redirect() {
				continue
			}
			return paygate.Money{}, "The request tried to create a redirect payment without " + u.name + "."
		}
		if parsed, err := url.Parse(u.value); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return paygate.Money{}, "The request's " + u.name + " is not an absolute http(s) URL."
		}
	}
	if problem := checkFields(o, req.PaymentMethod.Fields); problem != "" {
		return paygate.Money{}, problem
	}
	if len(req.MerchantReferenceID) > maxReferenceLen {
		return paygate.Money{}, "The merchant_reference_id is longer than 45 characters."
	}
	if len(req.Metadata) > 0 && req.Metadata[0] != '{' && string(req.Metadata) != "null" {
		return paygate.Money{}, "The metadata must be a JSON object."
	}
	return m, ""
}

// checkFields checks payment_method.fields against o's fields: each
// required one present and matching its regex, and a document_id that
// is a CPF or CNPJ with valid check digits. It returns what is wrong, or
// "". Values are never echoed: they are the payer's.
func checkFields(o *offer, fields map[string]string) string {
	for _, f := range o.fields {
		v := strings.TrimSpace(fields[f.Name])
		if v == "" {
			if f.IsRequired {
				return "The request tried to create a payment with " + o.typ + " without the required field payment_method.fields." + f.Name + "."
			}
			continue
		}
		if f.Regex != "" && !regexp.MustCompile(f.Regex).MatchString(v) {
			return "The field payment_method.fields." + f.Name + " does not match " + f.Regex + "."
		}
		if f.Name == "document_id" && !taxid.Valid(taxid.Normalize(v)) {
			return "The field payment_method.fields.document_id is not a CPF or CNPJ with valid check digits."
		}
	}
	return ""
}

// issueCodes gives a new payment of a QR or voucher method its code and
// its expiration: PayNow an EMVCo payload (and its PNG), Boleto a
// digitable line. Caller holds s.mu.
func (s *Simulator) issueCodes(p *payment, now time.Time) error {
	switch p.method {
	case providers.PayNow:
		if p.expiration == 0 {
			p.expiration = now.Add(payNowValidity).Unix()
		}
		p.qr = simkit.PayNowQR{UEN: payNowUEN, Merchant: payNowMerchant, City: "Singapore", Amount: p.amount.Minor,
			Reference: p.reference, Expires: time.Unix(p.expiration, 0)}.Payload()
		png, err := qrcode.Encode(p.qr, qrcode.Medium, 320)
		if err != nil {
			return err
		}
		p.qrPNG = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	case providers.Boleto:
		due := simkit.BoletoExpiry(now, boletoDays)
		if p.expiration == 0 || p.expiration > due.Unix() {
			p.expiration = due.Unix()
		}
		p.voucher = simkit.BoletoLine(p.id, p.amount.Minor, time.Unix(p.expiration, 0))
	}
	return nil
}

// The payee of the sandbox's PayNow QR codes: a made-up UEN (Unique
// Entity Number) in the format of a local company's.
const (
	payNowUEN      = "209900001Z"
	payNowMerchant = "PAYGATE SANDBOX"
)

// listed reports whether o is offered to the account (not
// Config.Unavailable).
func (s *Simulator) listed(o *offer) bool { return slices.Contains(s.offers, o) }

// listPayments serves GET /v1/payments: the payments newest first,
// filtered by merchant_reference_id when given, at most limit (1 to 100,
// default 10) of them.
func (s *Simulator) listPayments(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	limit := 10
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			s.apiError(w, http.StatusBadRequest, "INVALID_QUERY_PARAMETER", "The limit must be a number from 1 to 100.")
			return
		}
		limit = n
	}
	ref, filter := q.Get("merchant_reference_id"), q.Has("merchant_reference_id")
	s.mu.Lock()
	var found []*payment
	for _, p := range s.payments {
		if !filter || p.reference == ref {
			found = append(found, p)
		}
	}
	slices.SortFunc(found, func(a, b *payment) int {
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	objs := []paymentObject{}
	for _, p := range found[:min(limit, len(found))] {
		objs = append(objs, s.object(p))
	}
	out := s.response(objs)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// getPayment serves GET /v1/payments/{id}.
func (s *Simulator) getPayment(w http.ResponseWriter, r *http.Request, _ []byte) {
	s.mu.Lock()
	p, ok := s.payments[r.PathValue("id")]
	var out []byte
	if ok {
		out = s.response(s.object(p))
	}
	s.mu.Unlock()
	if !ok {
		s.apiError(w, http.StatusNotFound, "ERROR_GET_PAYMENT", "The request tried to retrieve a payment, but the payment was not found.")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// cancelPayment serves DELETE /v1/payments/{id}: an ACT payment becomes CAN
// and PAYMENT_CANCELED is sent (in the background); any other is refused.
func (s *Simulator) cancelPayment(w http.ResponseWriter, r *http.Request, _ []byte) {
	now := s.now()
	s.mu.Lock()
	p, ok := s.payments[r.PathValue("id")]
	if !ok {
		s.mu.Unlock()
		s.apiError(w, http.StatusNotFound, "ERROR_GET_PAYMENT", "The request tried to cancel a payment, but the payment was not found.")
		return
	}
	if p.status != statusActive {
		st := p.status
		s.mu.Unlock()
		s.apiError(w, http.StatusBadRequest, "ERROR_CANCEL_PAYMENT",
			"The request tried to cancel a payment whose status is "+st+". Only an active payment (ACT) can be canceled.")
		return
	}
	if !p.offer.cancelable {
		s.mu.Unlock()
		s.apiError(w, http.StatusBadRequest, "ERROR_CANCEL_PAYMENT",
			"The request tried to cancel a payment of "+p.methodType+", which is not cancelable (is_cancelable false).")
		return
	}
	p.status = statusCanceled
	p.cancelReason = "canceled by the merchant"
	out := s.response(s.object(p))
	batch := s.queue(p, s.newDelivery(typeCanceled, p, now), true, now)
	s.trim(now)
	s.mu.Unlock()

	s.hooks.Send(r.Context(), batch, false) // in the background, handed over before the answer
	writeJSON(w, http.StatusOK, out)
}

// listMethods serves GET /v1/payment_methods/countries/{country}: the
// types offered in the country, of the currency query if given.
func (s *Simulator) listMethods(w http.ResponseWriter, r *http.Request, _ []byte) {
	items := []methodTypeObject{}
	cur := r.URL.Query().Get("currency")
	for _, o := range s.offers {
		if !strings.EqualFold(r.PathValue("country"), o.country) || (cur != "" && !strings.EqualFold(cur, string(o.currency))) {
			continue
		}
		items = append(items, methodTypeObject{
			Type: o.typ, Name: o.name, Category: o.category, Country: o.country,
			Currencies: []string{string(o.currency)},
			AmountRangePerCurrency: []amountRange{{Currency: string(o.currency),
				MinimumAmount: major(paygate.New(o.min, o.currency)), MaximumAmount: major(paygate.New(o.max, o.currency))}},
			IsCancelable: o.cancelable, IsExpirable: true, IsOnline: true, IsRefundable: o.refundable,
			PaymentFlowType: o.flow, Fields: append([]fieldObject{}, o.fields...),
		})
	}
	writeJSON(w, http.StatusOK, s.response(items))
}

// response returns a SUCCESS envelope around data.
func (s *Simulator) response(data any) []byte {
	b, err := encodeJSON(envelope{Status: status{Status: "SUCCESS", OperationID: newID("op_")}, Data: data})
	if err != nil {
		// The simulator's own types always encode; this is a bug.
		s.log.Error().Err(err).Msg("rapydsim: encode response")
		return []byte(`{"status":{"error_code":"INTERNAL_ERROR","status":"ERROR","message":"The simulator could not encode its response."}}`)
	}
	return b
}

// apiError writes Rapyd's error envelope.
func (s *Simulator) apiError(w http.ResponseWriter, httpStatus int, code, message string) {
	b, _ := encodeJSON(envelope{Status: status{
		ErrorCode: code, Status: "ERROR", Message: message, ResponseCode: code, OperationID: newID("op_"),
	}})
	writeJSON(w, httpStatus, b)
}

func writeJSON(w http.ResponseWriter, httpStatus int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(httpStatus)
	_, _ = w.Write(b)
}

// encodeJSON returns compact JSON without HTML escaping or a trailing
// newline.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) == 0 {
		return nil, errors.New("empty JSON")
	}
	return b, nil
}
