package stripesim

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/providers/simkit"
	"github.com/paygate/paygate/taxid"
)

// apiError is a Stripe API error response.
type apiError struct {
	Status  int
	Type    string // invalid_request_error, idempotency_error, api_error
	Code    string
	Message string
	Param   string
	// Executed marks an error the endpoint reached after it began
	// executing (a state conflict): an idempotency key saves it, as Stripe
	// saves such results. Validation errors are not saved.
	Executed bool
}

func (e *apiError) Error() string { return "stripesim: " + e.Message }

func (e *apiError) body() []byte {
	type errJSON struct {
		Code    string `json:"code,omitempty"`
		DocURL  string `json:"doc_url,omitempty"`
		Message string `json:"message"`
		Param   string `json:"param,omitempty"`
		Type    string `json:"type"`
	}
	j := errJSON{Code: e.Code, Message: e.Message, Param: e.Param, Type: e.Type}
	if e.Code != "" {
		j.DocURL = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(e.Code, "_", "-")
	}
	return marshal(map[string]any{"error": j})
}

// invalid returns a 400 invalid_request_error.
func invalid(code, param, format string, args ...any) *apiError {
	return &apiError{Status: 400, Type: "invalid_request_error", Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

func missing(param string) *apiError {
	return invalid("parameter_missing", param, "Missing required param: %s.", param)
}

func noSuchIntent(id string) *apiError {
	return &apiError{Status: 404, Type: "invalid_request_error", Code: "resource_missing", Param: "intent",
		Message: fmt.Sprintf("No such payment_intent: '%s'", id)}
}

// The top-level parameters each endpoint accepts: stripe-go v76's form
// tags. Anything else is refused, as Stripe refuses unknown parameters.
func createParams() []string {
	return []string{"amount", "application_fee_amount", "automatic_payment_methods", "capture_method",
		"client_secret", "confirm", "confirmation_method", "confirmation_token", "currency", "customer",
		"description", "expand", "mandate", "mandate_data", "metadata", "on_behalf_of", "payment_method",
		"payment_method_configuration", "payment_method_data", "payment_method_options",
		"payment_method_types", "radar_options", "receipt_email", "return_url", "setup_future_usage",
		"shipping", "statement_descriptor", "statement_descriptor_suffix", "transfer_data",
		"transfer_group", "error_on_requires_action", "off_session", "use_stripe_sdk"}
}

func confirmParams() []string {
	return []string{"capture_method", "client_secret", "confirmation_token", "error_on_requires_action", "expand",
		"mandate", "mandate_data", "off_session", "payment_method", "payment_method_data",
		"payment_method_options", "radar_options", "receipt_email", "return_url", "setup_future_usage",
		"shipping", "use_stripe_sdk"}
}

func cancelParams() []string { return []string{"cancellation_reason", "expand"} }

func retrieveParams() []string { return []string{"client_secret", "expand"} }

func checkParams(f *form, allowed []string) *apiError {
	for _, k := range f.keys() {
		if !slices.Contains(allowed, k) {
			return invalid("parameter_unknown", k, "Received unknown parameter: %s", k)
		}
	}
	return nil
}

// expandOf reads expand[] (an array, or one value).
func expandOf(f *form) (expansions, *apiError) {
	if v, ok := f.str("expand"); ok {
		return parseExpand([]string{v}), nil
	}
	list, ok := f.list("expand")
	if !ok {
		return expansions{}, invalid("", "expand", "Invalid array")
	}
	for _, x := range list {
		if x != "latest_charge" && x != "payment_method" {
			return expansions{}, invalid("", "expand", "This property cannot be expanded (%s). The Stripe sandbox expands latest_charge and payment_method.", x)
		}
	}
	return parseExpand(list), nil
}

// parseBool reads a boolean parameter; absent is false.
func parseBool(f *form, key string) (bool, *apiError) {
	if !f.has(key) {
		return false, nil
	}
	v, _ := f.str(key)
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid("", key, "Invalid boolean: %s", v)
}

// optionalString reads a string parameter that must not be a hash.
func optionalString(f *form, key ...string) (string, *apiError) {
	if !f.has(key...) {
		return "", nil
	}
	v, ok := f.str(key...)
	if !ok {
		return "", invalid("", paramName(key), "Invalid string: {...}")
	}
	return v, nil
}

// paramName writes a path as Stripe names params: a[b][c].
func paramName(path []string) string {
	s := path[0]
	for _, p := range path[1:] {
		s += "[" + p + "]"
	}
	return s
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// confirmInput is what confirmation needs, from create or confirm params.
type confirmInput struct {
	Method     *paymentMethod
	NewMethod  bool // Method was made from payment_method_data
	ReturnURL  string
	BoletoDays int64
	HasDays    bool
}

// readConfirmInput reads payment_method_data / payment_method, return_url
// and payment_method_options from a create or confirm request. Caller holds
// s.mu.
func (s *Simulator) readConfirmInput(f *form, now time.Time) (confirmInput, *apiError) {
	var in confirmInput
	var aerr *apiError
	switch {
	case f.has("payment_method_data"):
		if f.has("payment_method") {
			return in, invalid("", "payment_method_data", "You cannot provide both payment_method and payment_method_data.")
		}
		if in.Method, aerr = readMethodData(f, now); aerr != nil {
			return in, aerr
		}
		in.NewMethod = true
	case f.has("payment_method"):
		id, _ := f.str("payment_method")
		pm := s.methods[id]
		if pm == nil {
			return in, &apiError{Status: 400, Type: "invalid_request_error", Code: "resource_missing", Param: "payment_method",
				Message: fmt.Sprintf("No such PaymentMethod: '%s'", id)}
		}
		in.Method = pm
	}
	if in.ReturnURL, aerr = optionalString(f, "return_url"); aerr != nil {
		return in, aerr
	}
	if in.ReturnURL != "" && !validURL(in.ReturnURL) {
		return in, invalid("url_invalid", "return_url", "Not a valid URL")
	}
	if f.has("payment_method_options", "boleto", "expires_after_days") {
		v, _ := f.str("payment_method_options", "boleto", "expires_after_days")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return in, invalid("parameter_invalid_integer", "payment_method_options[boleto][expires_after_days]", "Invalid integer: %s", v)
		}
		if n < 0 || n > maxBoletoDays {
			return in, invalid("", "payment_method_options[boleto][expires_after_days]",
				"expires_after_days must be between 0 and %d.", maxBoletoDays)
		}
		in.BoletoDays, in.HasDays = n, true
	}
	return in, nil
}

// readMethodData makes a payment method from payment_method_data[…].
func readMethodData(f *form, now time.Time) (*paymentMethod, *apiError) {
	const p = "payment_method_data"
	typ, aerr := optionalString(f, p, "type")
	if aerr != nil {
		return nil, aerr
	}
	if typ == "" {
		return nil, missing(p + "[type]")
	}
	if _, ok := methodCurrency(typ); !ok {
		return nil, invalid("", p+"[type]", "Invalid payment_method_data[type]: the Stripe sandbox supports ideal, paynow, boleto, kakao_pay and samsung_pay, not %q.", typ)
	}
	pm := &paymentMethod{ID: newID("pm", 24), Type: typ, Created: now.Unix()}
	fields := []struct {
		dst  *string
		path []string
	}{
		{&pm.Name, []string{p, "billing_details", "name"}},
		{&pm.Email, []string{p, "billing_details", "email"}},
		{&pm.Phone, []string{p, "billing_details", "phone"}},
		{&pm.Address.Line1, []string{p, "billing_details", "address", "line1"}},
		{&pm.Address.Line2, []string{p, "billing_details", "address", "line2"}},
		{&pm.Address.City, []string{p, "billing_details", "address", "city"}},
		{&pm.Address.State, []string{p, "billing_details", "address", "state"}},
		{&pm.Address.PostalCode, []string{p, "billing_details", "address", "postal_code"}},
		{&pm.Address.Country, []string{p, "billing_details", "address", "country"}},
		{&pm.Bank, []string{p, "ideal", "bank"}},
		{&pm.TaxID, []string{p, "boleto", "tax_id"}},
	}
	for _, fl := range fields {
		v, aerr := optionalString(f, fl.path...)
		if aerr != nil {
			return nil, aerr
		}
		*fl.dst = strings.TrimSpace(v)
	}
	if pm.Email != "" {
		if a, err := mail.ParseAddress(pm.Email); err != nil || a.Address != pm.Email {
			return nil, invalid("email_invalid", p+"[billing_details][email]", "Invalid email address: %s", pm.Email)
		}
	}
	if pm.Bank != "" && idealBIC(pm.Bank) == "" {
		return nil, invalid("", p+"[ideal][bank]", "Invalid payment_method_data[ideal][bank]: must be one of %s", strings.Join(idealBanks(), ", "))
	}
	if pm.TaxID != "" {
		pm.TaxID = taxid.Normalize(pm.TaxID)
		if !taxid.Valid(pm.TaxID) {
			return nil, invalid("tax_id_invalid", p+"[boleto][tax_id]", "The tax ID is not a valid CPF or CNPJ.")
		}
	}
	return pm, nil
}

// checkConfirm validates a confirmation of pi with in, changing nothing.
func checkConfirm(pi *intent, in confirmInput) *apiError {
	pm := in.Method
	if pm == nil {
		pm = pi.Method
	}
	if pm == nil {
		return invalid("payment_intent_unexpected_state", "payment_method",
			"You cannot confirm this PaymentIntent because it's missing a payment method. Provide payment_method_data or payment_method.")
	}
	if !slices.Contains(pi.MethodTypes, pm.Type) {
		return invalid("payment_intent_invalid_parameter", "payment_method_data[type]",
			"The PaymentMethod provided (%s) is not allowed for this PaymentIntent. Please attach a PaymentMethod of one of the following types: %s.",
			pm.Type, strings.Join(pi.MethodTypes, ", "))
	}
	returnURL := in.ReturnURL
	if returnURL == "" {
		returnURL = pi.ReturnURL
	}
	if aerr := checkAmountLimits(pm.Type, pi.Amount); aerr != nil {
		return aerr
	}
	switch pm.Type {
	case typeIDEAL:
		if returnURL == "" {
			return invalid("parameter_missing", "return_url", "A return_url must be specified to confirm an iDEAL PaymentIntent: the customer is redirected to their bank.")
		}
	case typeKakaoPay, typeSamsungPay:
		if returnURL == "" {
			return invalid("parameter_missing", "return_url", "A return_url must be specified to confirm a %s PaymentIntent: the customer is redirected to authorize the payment.", pm.Type)
		}
	case typeBoleto:
		const p = "payment_method_data"
		required := []struct{ v, param string }{
			{pm.Name, p + "[billing_details][name]"},
			{pm.Email, p + "[billing_details][email]"},
			{pm.Address.Line1, p + "[billing_details][address][line1]"},
			{pm.Address.City, p + "[billing_details][address][city]"},
			{pm.Address.State, p + "[billing_details][address][state]"},
			{pm.Address.PostalCode, p + "[billing_details][address][postal_code]"},
			{pm.Address.Country, p + "[billing_details][address][country]"},
			{pm.TaxID, p + "[boleto][tax_id]"},
		}
		for _, r := range required {
			if r.v == "" {
				return invalid("parameter_missing", r.param,
					"Missing required param: %s. Boleto needs the customer's name, email, full address and CPF/CNPJ.", r.param)
			}
		}
	}
	return nil
}

// applyConfirm confirms pi: it attaches the method and fixes the next
// action. checkConfirm must have passed.
func (s *Simulator) applyConfirm(pi *intent, in confirmInput, now time.Time) {
	if in.Method != nil {
		pi.Method = in.Method
		s.addInputMethod(pi, in)
	}
	if in.ReturnURL != "" {
		pi.ReturnURL = in.ReturnURL
	}
	if in.HasDays {
		pi.BoletoDays = in.BoletoDays
	}
	pi.LastMethod = pi.Method
	pi.LastError = nil
	pi.Status = statusRequiresAction
	base := s.cfg.BaseURL
	switch pi.Method.Type {
	case typeIDEAL:
		pi.NextAction = &nextAction{Type: "redirect_to_url", URL: base + "/ideal/" + pi.ID, ReturnURL: pi.ReturnURL}
	case typeKakaoPay, typeSamsungPay:
		pi.NextAction = &nextAction{Type: "redirect_to_url", URL: base + "/wallet/" + pi.ID, ReturnURL: pi.ReturnURL}
	case typePayNow:
		ref := strings.ToUpper(strings.TrimPrefix(pi.ID, "pi_"))
		exp := now.Add(payNowValidity)
		qr := simkit.PayNowQR{UEN: s.cfg.PayNowUEN, Merchant: s.cfg.PayNowMerchant, City: "Singapore", Amount: pi.Amount, Reference: ref, Expires: exp}
		pi.NextAction = &nextAction{
			Type: "paynow_display_qr_code", QRData: qr.Payload(), QRReference: ref, QRExpiresAt: exp.Unix(),
			QRPNG: base + "/qr/" + pi.ID + ".png", QRSVG: base + "/qr/" + pi.ID + ".svg",
			Instructions: base + "/paynow/" + pi.ID,
		}
	case typeBoleto:
		exp := simkit.BoletoExpiry(now, int(pi.BoletoDays))
		pi.NextAction = &nextAction{
			Type: "boleto_display_details", Number: simkit.BoletoLine(pi.ID+strconv.FormatInt(now.UnixNano(), 10), pi.Amount, exp),
			VoucherURL: base + "/boleto/" + pi.ID, PDF: base + "/boleto/" + pi.ID + "/voucher.pdf", ExpiresAt: exp.Unix(),
		}
	}
	pi.Last = pi.NextAction
}

// create handles POST /v1/payment_intents. Caller holds s.mu. It reads the
// amount and currency, the payment method types, then the other parameters,
// and creates the PaymentIntent, confirmed at once when asked.
func (s *Simulator) create(f *form, now time.Time) (*intent, *apiError) {
	if aerr := checkParams(f, createParams()); aerr != nil {
		return nil, aerr
	}
	amount, cur, aerr := createAmount(f)
	if aerr != nil {
		return nil, aerr
	}
	uniq, automatic, aerr := createMethodTypes(f, amount, cur)
	if aerr != nil {
		return nil, aerr
	}
	meta, ok := f.strMap("metadata")
	if !ok {
		return nil, invalid("", "metadata", "Invalid hash")
	}
	if aerr := checkMetadata(meta); aerr != nil {
		return nil, aerr
	}
	if cm, _ := f.str("capture_method"); f.has("capture_method") && cm != "automatic" && cm != "automatic_async" {
		return nil, invalid("", "capture_method", "The Stripe sandbox's payment methods only support automatic capture.")
	}
	desc, aerr := optionalString(f, "description")
	if aerr != nil {
		return nil, aerr
	}
	receipt, aerr := optionalString(f, "receipt_email")
	if aerr != nil {
		return nil, aerr
	}
	confirm, aerr := parseBool(f, "confirm")
	if aerr != nil {
		return nil, aerr
	}
	in, aerr := s.readConfirmInput(f, now)
	if aerr != nil {
		return nil, aerr
	}
	pi := &intent{
		ID: newID("pi", 24), Amount: amount, Currency: cur, Status: statusRequiresPaymentMethod,
		MethodTypes: uniq, AutomaticMethods: automatic, Metadata: meta, Description: desc,
		ReceiptEmail: receipt, ReturnURL: in.ReturnURL, Created: now.Unix(), BoletoDays: defaultBoletoDays,
	}
	if in.HasDays {
		pi.BoletoDays = in.BoletoDays
	}
	pi.ClientSecret = pi.ID + "_secret_" + newID("", 25)[1:]
	if in.Method != nil && !slices.Contains(pi.MethodTypes, in.Method.Type) {
		return nil, checkConfirm(pi, in)
	}
	if confirm {
		if aerr := checkConfirm(pi, in); aerr != nil {
			return nil, aerr
		}
		s.applyConfirm(pi, in, now)
	} else if in.Method != nil {
		pi.Method = in.Method
		s.addInputMethod(pi, in)
		pi.Status = statusRequiresConfirmation
	}
	s.intents[pi.ID] = pi
	return pi, nil
}

// createAmount reads a create request's amount, 1 to 99999999 minor
// units, and its currency, three letters returned in lower case.
func createAmount(f *form) (int64, string, *apiError) {
	if !f.has("amount") {
		return 0, "", missing("amount")
	}
	av, _ := f.str("amount")
	amount, err := strconv.ParseInt(av, 10, 64)
	if err != nil {
		return 0, "", invalid("parameter_invalid_integer", "amount", "Invalid integer: %s", av)
	}
	if amount < 1 {
		return 0, "", invalid("amount_too_small", "amount", "Amount must be at least 1 (in the currency's smallest unit).")
	}
	if amount > 99999999 {
		return 0, "", invalid("amount_too_large", "amount", "Amount must be no more than 99999999 (in the currency's smallest unit).")
	}
	if !f.has("currency") {
		return 0, "", missing("currency")
	}
	cur, _ := f.str("currency")
	cur = strings.ToLower(cur)
	if len(cur) != 3 || strings.Trim(cur, "abcdefghijklmnopqrstuvwxyz") != "" {
		return 0, "", invalid("", "currency", "Invalid currency: %s.", cur)
	}
	return amount, cur, nil
}

// createMethodTypes reads a create request's payment_method_types, each
// once, in the order given. Without any, the PaymentIntent takes automatic
// payment methods: every type of currency cur. Each type must be one the
// sandbox serves in cur, and, when named, take amount within its limits.
func createMethodTypes(f *form, amount int64, cur string) (types []string, automatic bool, aerr *apiError) {
	given, ok := f.list("payment_method_types")
	if !ok {
		return nil, false, invalid("", "payment_method_types", "Invalid array")
	}
	automatic = len(given) == 0
	if automatic {
		for _, t := range []string{typeIDEAL, typePayNow, typeBoleto, typeKakaoPay, typeSamsungPay} {
			if c, _ := methodCurrency(t); c == cur {
				given = append(given, t)
			}
		}
		if len(given) == 0 {
			return nil, false, invalid("payment_intent_invalid_parameter", "currency",
				"No valid payment method types for this PaymentIntent: the Stripe sandbox supports ideal (eur), paynow (sgd), boleto (brl), kakao_pay and samsung_pay (krw), not %s.", cur)
		}
	}
	for _, t := range given {
		c, ok := methodCurrency(t)
		if !ok {
			return nil, false, invalid("payment_intent_invalid_parameter", "payment_method_types",
				"The payment method type %q is invalid: the Stripe sandbox supports ideal, paynow, boleto, kakao_pay and samsung_pay.", t)
		}
		if c != cur {
			return nil, false, invalid("payment_intent_invalid_parameter", "currency",
				"The currency provided (%s) is invalid for one or more payment method types on this PaymentIntent. The payment method `%s` supports the following currencies: %s.", cur, t, c)
		}
		if !automatic {
			if aerr := checkAmountLimits(t, amount); aerr != nil {
				return nil, false, aerr
			}
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	return types, automatic, nil
}

// checkMetadata applies Stripe's metadata limits: 50 keys, keys of at most
// 40 characters, values of at most 500.
func checkMetadata(m map[string]string) *apiError {
	if len(m) > 50 {
		return invalid("", "metadata", "Metadata can have at most 50 keys.")
	}
	for k, v := range m {
		if k == "" || len(k) > 40 {
			return invalid("", "metadata", "Metadata keys must be 1 to 40 characters long.")
		}
		if len(v) > 500 {
			return invalid("", "metadata["+k+"]", "Metadata values can have at most 500 characters.")
		}
	}
	return nil
}

// confirm handles POST /v1/payment_intents/{id}/confirm. Caller holds s.mu.
func (s *Simulator) confirm(id string, f *form, now time.Time) (*intent, *apiError) {
	pi := s.intents[id]
	if pi == nil {
		return nil, noSuchIntent(id)
	}
	if aerr := checkParams(f, confirmParams()); aerr != nil {
		return nil, aerr
	}
	in, aerr := s.readConfirmInput(f, now)
	if aerr != nil {
		return nil, aerr
	}
	receipt, aerr := optionalString(f, "receipt_email")
	if aerr != nil {
		return nil, aerr
	}
	switch pi.Status {
	case statusRequiresPaymentMethod, statusRequiresConfirmation, statusRequiresAction:
	default:
		aerr := invalid("payment_intent_unexpected_state", "",
			"You cannot confirm this PaymentIntent because it has a status of %s. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method, requires_action.", pi.Status)
		aerr.Executed = true
		return nil, aerr
	}
	if aerr := checkConfirm(pi, in); aerr != nil {
		return nil, aerr
	}
	if receipt != "" {
		pi.ReceiptEmail = receipt
	}
	s.applyConfirm(pi, in, now)
	return pi, nil
}

// cancel handles POST /v1/payment_intents/{id}/cancel. Caller holds s.mu.
func (s *Simulator) cancel(id string, f *form, now time.Time) (*intent, *apiError) {
	pi := s.intents[id]
	if pi == nil {
		return nil, noSuchIntent(id)
	}
	if aerr := checkParams(f, cancelParams()); aerr != nil {
		return nil, aerr
	}
	reason, aerr := optionalString(f, "cancellation_reason")
	if aerr != nil {
		return nil, aerr
	}
	switch reason {
	case "", "abandoned", "duplicate", "fraudulent", "requested_by_customer":
	default:
		return nil, invalid("", "cancellation_reason",
			"Invalid cancellation_reason: must be one of duplicate, fraudulent, requested_by_customer, or abandoned")
	}
	switch pi.Status {
	case statusSucceeded, statusCanceled:
		aerr := invalid("payment_intent_unexpected_state", "",
			"You cannot cancel this PaymentIntent because it has a status of %s. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.", pi.Status)
		aerr.Executed = true
		return nil, aerr
	}
	pi.Status = statusCanceled
	pi.CanceledAt = now.Unix()
	pi.CancellationReason = reason
	pi.NextAction = nil
	return pi, nil
}
