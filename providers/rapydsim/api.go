package rapydsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
)

// maxRequest bounds an API request body.
const maxRequest = 1 << 20

// maxReferenceLen is the longest merchant_reference_id Rapyd takes.
const maxReferenceLen = 45

func (s *Simulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/payments", s.signed(s.createPayment))
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
		Type string `json:"type"`
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
	ID                        string          `json:"id"`
	Amount                    json.Number     `json:"amount"`
	OriginalAmount            json.Number     `json:"original_amount"`
	CurrencyCode              string          `json:"currency_code"`
	CountryCode               string          `json:"country_code"`
	Status                    string          `json:"status"`
	Description               string          `json:"description"`
	MerchantReferenceID       string          `json:"merchant_reference_id"`
	PaymentMethodType         string          `json:"payment_method_type"`
	PaymentMethodTypeCategory string          `json:"payment_method_type_category"`
	RedirectURL               string          `json:"redirect_url"`
	CompletePaymentURL        string          `json:"complete_payment_url"`
	ErrorPaymentURL           string          `json:"error_payment_url"`
	NextAction                string          `json:"next_action"`
	Captured                  bool            `json:"captured"`
	Paid                      bool            `json:"paid"`
	PaidAt                    int64           `json:"paid_at"`
	Refunded                  bool            `json:"refunded"`
	RefundedAmount            json.Number     `json:"refunded_amount"`
	Refunds                   refundList      `json:"refunds"`
	FailureCode               string          `json:"failure_code"`
	FailureMessage            string          `json:"failure_message"`
	CancelReason              *string         `json:"cancel_reason"`
	Expiration                int64           `json:"expiration"`
	Metadata                  json.RawMessage `json:"metadata"`
	CreatedAt                 int64           `json:"created_at"`
}

type methodTypeObject struct {
	Type            string   `json:"type"`
	Name            string   `json:"name"`
	Category        string   `json:"category"`
	Country         string   `json:"country"`
	Currencies      []string `json:"currencies"`
	IsCancelable    bool     `json:"is_cancelable"`
	IsRefundable    bool     `json:"is_refundable"`
	IsExpirable     bool     `json:"is_expirable"`
	IsOnline        bool     `json:"is_online"`
	PaymentFlowType string   `json:"payment_flow_type"`
}

// object renders a payment as Rapyd does. Call it with s.mu held or on a
// copy.
func (s *Simulator) object(p *payment) paymentObject {
	won := json.Number(strconv.FormatInt(p.won, 10))
	o := paymentObject{
		ID:                        p.id,
		Amount:                    won,
		OriginalAmount:            won,
		CurrencyCode:              string(paygate.KRW),
		CountryCode:               "KR",
		Status:                    p.status,
		Description:               p.description,
		MerchantReferenceID:       p.reference,
		PaymentMethodType:         p.methodType,
		PaymentMethodTypeCategory: "ewallet",
		RedirectURL:               s.cfg.BaseURL + "/pay/" + p.id,
		CompletePaymentURL:        p.completeURL,
		ErrorPaymentURL:           p.errorURL,
		NextAction:                "not_applicable",
		Captured:                  true,
		Paid:                      p.status == statusClosed,
		RefundedAmount:            json.Number(strconv.FormatInt(p.refunded(), 10)),
		Refunds:                   refundList{Data: []refundObject{}},
		FailureCode:               p.failureCode,
		FailureMessage:            p.failureMessage,
		Expiration:                p.expiration,
		Metadata:                  p.metadata,
		CreatedAt:                 p.createdAt.Unix(),
	}
	if p.status == statusActive {
		o.NextAction = "pending_confirmation"
	}
	o.Refunded = o.RefundedAmount != "0"
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
	won, problem := s.validate(req)
	if problem != "" {
		s.apiError(w, http.StatusBadRequest, "ERROR_CREATE_PAYMENT", problem)
		return
	}

	now := s.now()
	key := r.Header.Get("idempotency")
	// Rapyd's default idempotency check compares the key and the amount.
	replayKey := key + "\x00" + strconv.FormatInt(won, 10)
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
		method:      s.methodTypes[req.PaymentMethod.Type],
		methodType:  req.PaymentMethod.Type,
		won:         won,
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
	s.payments[p.id] = p
	out := s.response(s.object(p))
	if key != "" {
		s.idempotency.Put(replayKey, out, now)
	}
	batch := s.queue(p, s.newDelivery(typeSucceeded, p, now), false, now)
	s.trim(now)
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, out)
	// Rapyd says PAYMENT_SUCCEEDED once the payment is created. It is sent
	// in the background: the caller may be waiting on this response inside a
	// database transaction that the webhook's receiver needs.
	s.hooks.Send(r.Context(), batch, false)
}

// validate checks a create request and returns the amount in won, or what
// is wrong, in Rapyd's words.
func (s *Simulator) validate(req createRequest) (int64, string) {
	if req.Currency != string(paygate.KRW) {
		return 0, "The request tried to create a payment in currency " + strconv.Quote(paygate.Clip(req.Currency, 64)) + ", but the simulator takes KRW only."
	}
	if _, ok := s.methodTypes[req.PaymentMethod.Type]; !ok {
		return 0, "The request tried to use payment method type " + strconv.Quote(paygate.Clip(req.PaymentMethod.Type, 64)) + ", which is not available for KR and KRW."
	}
	if req.Amount == "" {
		return 0, "The request tried to create a payment without an amount."
	}
	m, err := paygate.ParseMoney(string(req.Amount), paygate.KRW)
	if err != nil {
		return 0, "The request tried to create a payment with an invalid amount: " + paygate.ErrorMessage(err) + ". Send a positive whole number of won, as an integer."
	}
	if m.Minor <= 0 {
		return 0, "The request tried to create a payment with an invalid amount: it must be positive."
	}
	for _, u := range []struct{ name, value string }{
		{"complete_payment_url", req.CompletePaymentURL},
		{"error_payment_url", req.ErrorPaymentURL},
	} {
		if u.value == "" {
			return 0, "The request tried to create a redirect payment without " + u.name + "."
		}
		if parsed, err := url.Parse(u.value); err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return 0, "The request's " + u.name + " is not an absolute http(s) URL."
		}
	}
	if len(req.MerchantReferenceID) > maxReferenceLen {
		return 0, "The merchant_reference_id is longer than 45 characters."
	}
	if len(req.Metadata) > 0 && req.Metadata[0] != '{' && string(req.Metadata) != "null" {
		return 0, "The metadata must be a JSON object."
	}
	return m.Minor, ""
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
	p.status = statusCanceled
	p.cancelReason = "canceled by the merchant"
	out := s.response(s.object(p))
	batch := s.queue(p, s.newDelivery(typeCanceled, p, now), true, now)
	s.trim(now)
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, out)
	s.hooks.Send(r.Context(), batch, false)
}

// listMethods serves GET /v1/payment_methods/countries/{country}.
func (s *Simulator) listMethods(w http.ResponseWriter, r *http.Request, _ []byte) {
	items := []methodTypeObject{}
	cur := r.URL.Query().Get("currency")
	if strings.EqualFold(r.PathValue("country"), "KR") && (cur == "" || cur == string(paygate.KRW)) {
		for _, mi := range providers.Catalog() {
			for t, m := range s.methodTypes {
				if m != mi.Method {
					continue
				}
				items = append(items, methodTypeObject{
					Type: t, Name: mi.Label, Category: "ewallet", Country: "KR",
					Currencies:   []string{string(paygate.KRW)},
					IsCancelable: true, IsExpirable: true, IsOnline: true, IsRefundable: true,
					PaymentFlowType: "redirect_url",
				})
			}
		}
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
