package redact

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/paygate/paygate/taxid"
)

// personalMask returns how the string value of a JSON key that holds a
// person's data wherever it appears in a provider's document (Stripe's
// billing_details, boleto and receipt_email; Rapyd's customer fields) is
// masked, or nil for other keys.
func personalMask(key string) func(string) string {
	switch strings.ToLower(key) {
	case "name":
		return maskName
	case "email", "receipt_email":
		return maskEmail
	case "phone", "phone_number":
		return func(s string) string { return maskDigits([]byte(s)) }
	case "tax_id":
		return taxid.Mask
	case "line1", "line2", "postal_code":
		return func(string) string { return "***" }
	}
	return nil
}

// JSON masks the JSON document b with the patterns only; see
// Redactor.JSON.
func JSON(b []byte) []byte {
	var r Redactor
	return r.JSON(b)
}

// JSON returns the JSON document b with the string values of personal
// fields (name, email, receipt_email, phone, phone_number, tax_id, line1,
// line2, postal_code, at any depth) masked, and every other string masked
// by r's patterns and secrets. Keys come out sorted, numbers as they were.
// A b that is not JSON is masked as text (Bytes).
func (r *Redactor) JSON(b []byte) []byte {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil || d.More() {
		return r.Bytes(b)
	}
	v = r.maskValue("", v)
	var out bytes.Buffer
	e := json.NewEncoder(&out)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return r.Bytes(b)
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n"))
}

func (r *Redactor) maskValue(key string, v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = r.maskValue(k, x)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = r.maskValue(key, x)
		}
		return v
	case string:
		if mask := personalMask(key); mask != nil && v != "" {
			return mask(v)
		}
		return r.String(v)
	}
	return v
}

// maskEmail keeps an address's first character and its domain:
// "j***@example.com".
func maskEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 1 {
		return "***"
	}
	return s[:1] + "***" + s[at:]
}

// maskName keeps a name's first character: "M***".
func maskName(s string) string {
	if s == "" {
		return s
	}
	for _, c := range s {
		return string(c) + "***"
	}
	return "***"
}
