package rapyd

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
)

// FuzzDecodePayment: any payment object Rapyd may send is decoded into a
// payment with a coherent next action, or refused with an error; never a
// panic.
func FuzzDecodePayment(f *testing.F) {
	for _, s := range []string{
		`{"id":"payment_1","status":"ACT","amount":15000,"currency_code":"KRW","redirect_url":"https://r.example/p"}`,
		`{"id":"payment_1","status":"ACT","amount":10.5,"currency_code":"SGD","expiration":1765000000,"visual_codes":{"PayNow QR":"000201010212"},"textual_codes":{}}`,
		`{"id":"payment_1","status":"ACT","amount":10.5,"currency_code":"SGD","visual_codes":{"PayNow QR":"data:image/png;base64,iVBO"}}`,
		`{"id":"payment_1","status":"ACT","amount":"123.45","currency_code":"BRL","payment_method_type_category":"cash","textual_codes":{"Boleto code":"00190.00009 01234.567891 23456.789012 3 12340000012345"}}`,
		`{"id":"payment_1","status":"CLO","amount":1,"currency_code":"EUR","visual_codes":{"a":1},"textual_codes":{"b":null}}`,
		`{"id":"payment_1","status":"ACT","amount":1,"currency_code":"EUR","expiration":"soon"}`,
		`{"id":"payment_1","status":"???","amount":1,"currency_code":"EUR"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := decodePayment(json.RawMessage(raw))
		if err != nil {
			if code := paygate.ErrorCode(err); code != paygate.EUNAVAILABLE && code != paygate.EINVALID {
				t.Fatalf("decodePayment(%q) error %v, want EUNAVAILABLE or EINVALID", raw, err)
			}
			return
		}
		if p.Ref == "" {
			t.Fatalf("decodePayment(%q) = %+v without an id", raw, p)
		}
		a := p.NextAction
		if p.Status != providers.StatusPending && a.Type != providers.ActionNone {
			t.Fatalf("decodePayment(%q) = %+v: a final payment with a next action", raw, p)
		}
		switch a.Type {
		case providers.ActionQR:
			if a.QRData == "" && a.QRImageURL == "" {
				t.Fatalf("decodePayment(%q): a QR action with neither payload nor image", raw)
			}
			if a.QRData != "" && !strings.HasPrefix(a.QRData, emvPrefix) {
				t.Fatalf("decodePayment(%q): QR payload %q is not EMVCo", raw, a.QRData)
			}
		case providers.ActionVoucher:
			if n := len(a.VoucherNumber); n != 0 && n != 47 && n != 48 || strings.Trim(a.VoucherNumber, "0123456789") != "" {
				t.Fatalf("decodePayment(%q): voucher number %q is not a digitable line", raw, a.VoucherNumber)
			}
		case providers.ActionRedirect:
			if a.URL == "" {
				t.Fatalf("decodePayment(%q): a redirect without a URL", raw)
			}
		}
	})
}

// FuzzTypeName: the <name> of any type string is found without a panic,
// and is within the type.
func FuzzTypeName(f *testing.F) {
	for _, s := range []string{"nl_ideal_bank", "kr_samsung_pay_ewallet", "ideal", "_", "__", "x_", "_x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, typ string) {
		name := typeName(typ)
		if !strings.Contains(typ, name) {
			t.Fatalf("typeName(%q) = %q, not part of the type", typ, name)
		}
		if n := normalizeName(name); strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("normalizeName(%q) = %q", name, n)
		}
	})
}
