package checkout

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/storage/storagetest"
	"github.com/paygate/paygate/taxid"
)

// FuzzCheckPayer checks that checkPayer lets a Boleto payer through only
// with a name, a plain email address, a Brazilian address and a tax id that
// package taxid accepts (taxid's FuzzTaxID checks that against a rule
// written apart); that what it returns is normalized (checking it again
// changes nothing); and that every refusal is an EINVALID *paygate.Error.
// Methods without NeedsPayer accept any payer and keep only name and email.
func FuzzCheckPayer(f *testing.F) {
	f.Add(true, "Maria Silva", "maria@example.com", "529.982.247-25", "Av. Paulista 1000", "São Paulo", "SP", "01310-100", "")
	f.Add(true, "Empresa", "financeiro@empresa.com.br", "12.ABC.345/01DE-35", "Rua A 1", "Rio", "RJ", "20000-000", "br")
	f.Add(true, "Maria", "maria@example.com", "529.982.247-24", "Av. Paulista 1000", "São Paulo", "SP", "01310-100", "BR")
	f.Add(true, "Maria", "Maria <maria@example.com>", "52998224725", "x", "y", "z", "1", "")
	f.Add(true, " ", "maria@example.com", "52998224725", "x", "y", "z", "1", "US")
	f.Add(true, "Maria", "maria@example.com", "ı2ABC34501DE42", "x", "y", "z", "1", "")
	f.Add(false, "  Kim  ", "", "", "", "", "", "", "")
	f.Add(true, "Maria", "maria@example.com", "529.982.247-25", "Av. Paulista 1000", "São Paulo", "XX", "01310-100", "")
	f.Add(true, "Maria", "maria@example.com", "529.982.247-25", "Av. Paulista 1000", "São Paulo", "sp", "0131010", "")
	f.Fuzz(func(t *testing.T, boleto bool, name, email, taxID, line1, city, state, postal, country string) {
		m := providers.IDEAL
		if boleto {
			m = providers.Boleto
		}
		mi, ok := providers.Lookup(m)
		if !ok {
			t.Fatalf("no method %s", m)
		}
		in := providers.Payer{Name: name, Email: email, TaxID: taxID, Address: providers.Address{
			Line1: line1, City: city, State: state, PostalCode: postal, Country: country}}
		got, err := checkPayer(mi, in)
		if err != nil {
			var pe *paygate.Error
			if !boleto || paygate.ErrorCode(err) != paygate.EINVALID || !errors.As(err, &pe) || pe.Message == "" {
				t.Fatalf("checkPayer(%s, %+v) = %v, want EINVALID only for a method that needs the payer", m, in, err)
			}
			return
		}
		again, err := checkPayer(mi, got)
		if err != nil || again != got {
			t.Fatalf("checkPayer(%s, %+v) = %+v, but checking that again gives %+v, %v", m, in, got, again, err)
		}
		if !boleto {
			if got.TaxID != "" || got.Address != (providers.Address{}) {
				t.Fatalf("checkPayer(%s, %+v) = %+v, want only a name and an email kept", m, in, got)
			}
			return
		}
		switch {
		case got.Name == "" || got.Email == "" || strings.ContainsAny(got.Email, " <>\"\r\n"):
			t.Fatalf("checkPayer(boleto, %+v) accepted name %q, email %q", in, got.Name, got.Email)
		case strings.Trim(taxID, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-/ ") != "":
			t.Fatalf("checkPayer(boleto, %+v) accepted tax id %q, which has characters other than ASCII letters, digits and punctuation", in, taxID)
		case !taxid.ValidCPF(got.TaxID) && !taxid.ValidCNPJ(got.TaxID):
			t.Fatalf("checkPayer(boleto, %+v) accepted tax id %q (from %q), which has wrong check digits", in, got.TaxID, taxID)
		case got.Address.Country != "BR":
			t.Fatalf("checkPayer(boleto, %+v) accepted country %q", in, got.Address.Country)
		case !strings.Contains(" AC AL AP AM BA CE DF ES GO MA MT MS MG PA PB PR PE PI RJ RN RS RO RR SC SP SE TO ", " "+got.Address.State+" ") || len(got.Address.State) != 2:
			t.Fatalf("checkPayer(boleto, %+v) accepted state %q, not one of Brazil's", in, got.Address.State)
		case len(got.Address.PostalCode) != 8 || strings.Trim(got.Address.PostalCode, "0123456789") != "":
			t.Fatalf("checkPayer(boleto, %+v) accepted postal code %q, not 8 digits", in, got.Address.PostalCode)
		}
	})
}

// FuzzValidToken checks the checkout link's token: ValidToken accepts a
// token exactly when it is the base64url HMAC-SHA256 of "checkout|" and the
// P-number under the service's secret (computed here independently), so a
// token of another order, of another secret, or changed in any byte is
// refused.
func FuzzValidToken(f *testing.F) {
	secret := []byte("fuzz-checkout-secret")
	s := &Service{secret: secret}
	other := &Service{secret: []byte("another-secret")}
	for _, p := range []string{"P12345678", "P00000000", "K1234567", ""} {
		f.Add(p, s.Token(paygate.PaymentOrderNumber(p)))
		f.Add(p, other.Token(paygate.PaymentOrderNumber(p)))
		f.Add(p, s.Token(paygate.PaymentOrderNumber(p))+"=")
	}
	f.Add("P12345678", s.Token("P12345679"))
	f.Add("P12345678", "")
	f.Fuzz(func(t *testing.T, number, token string) {
		p := paygate.PaymentOrderNumber(number)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("checkout|" + number))
		want := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		if got := s.Token(p); got != want {
			t.Fatalf("Token(%q) = %q, want %q", number, got, want)
		}
		if got := s.ValidToken(p, token); got != (token == want) {
			t.Fatalf("ValidToken(%q, %q) = %v, want %v", number, token, got, !got)
		}
		if other.ValidToken(p, want) {
			t.Fatalf("ValidToken(%q, %q) under another secret = true", number, want)
		}
		if !s.ValidToken(p, want) {
			t.Fatalf("ValidToken(%q, its own token) = false", number)
		}
	})
}

// FuzzCheckoutPage sends the checkout page's link and form, with fuzzed
// fields, a fuzzed or the real token and a fuzzed or the real CSRF token,
// to the real page handlers on a real SQLite file (opened once for the
// target). The page must answer any input below 500; a link whose token is
// not the order's is the uniform 404; and an attempt may start only for a
// form that carries the order's own token and CSRF token and a method of
// the catalog in the order's currency, with, for Boleto, a payer that
// checkPayer accepts.
func FuzzCheckoutPage(f *testing.F) {
	f.Add(uint8(0), "ideal", true, "", true, "", "", "", "", "")
	f.Add(uint8(1), "boleto", true, "", true, "Maria Silva", "maria@example.com", "529.982.247-25", "Av. Paulista 1000", "01310-100")
	f.Add(uint8(1), "boleto", true, "", true, "Maria Silva", "maria@example.com", "529.982.247-24", "Av. Paulista 1000", "01310-100")
	f.Add(uint8(1), "boleto", true, "", false, "Maria Silva", "maria@example.com", "529.982.247-25", "Av. Paulista 1000", "01310-100")
	f.Add(uint8(1), "boleto", true, "", true, "Maria Silva", "maria@example.com", "ı2ABC34501DE42", "Av. Paulista 1000", "01310-100")
	f.Add(uint8(0), "ideal", false, "AAAA", true, "", "", "", "", "")
	f.Add(uint8(2), "kakaopay", true, "", true, "", "", "", "", "")
	f.Add(uint8(2), "paynow", true, "", true, "", "", "", "", "")
	f.Add(uint8(0), "balance", true, "", true, "", "", "", "", "")
	f.Add(uint8(3), "ideal\x00", true, "", true, "%zz", "", "", "", "")
	f.Add(uint8(4), "", false, "%", false, "", "", "", "", "")

	b := storagetest.Backend{Name: "sqlite", DSN: func(t testing.TB) string { return filepath.Join(t.TempDir(), "paygate.db") }}
	pt := newPageTest(f, b)
	type order struct {
		po   PaymentOrder
		csrf string
	}
	var orders []order
	for _, c := range []paygate.Currency{paygate.EUR, paygate.BRL, paygate.KRW, paygate.SGD} {
		po := pt.order(f, c, "https://shop.example/back", 1500)
		orders = append(orders, order{po, pt.form(f, po, "").Get("csrf")})
	}

	f.Fuzz(func(t *testing.T, which uint8, method string, realToken bool, token string, realCSRF bool, name, email, taxID, line1, postal string) {
		o := orders[int(which)%len(orders)]
		number := string(o.po.Number)
		if which >= 128 { // a number that is not the order's, or not one at all
			number = strings.Repeat(name, 1)
		}
		if realToken {
			token = pt.s.Token(o.po.Number)
		}
		page := pt.get(t, "/checkout/"+url.PathEscape(number)+"?t="+url.QueryEscape(token))
		if page.status >= 500 {
			t.Fatalf("GET checkout page of %q with token %q = %d, want below 500", number, token, page.status)
		}
		if !pt.s.ValidToken(paygate.PaymentOrderNumber(number), token) && page.status != http.StatusNotFound {
			t.Fatalf("GET checkout page of %q with token %q (not its own) = %d, want 404", number, token, page.status)
		}

		csrf := taxID + line1
		if realCSRF {
			csrf = o.csrf
		}
		form := url.Values{"t": {token}, "csrf": {csrf}, "method": {method}, "name": {name}, "email": {email},
			"tax_id": {taxID}, "line1": {line1}, "city": {"São Paulo"}, "state": {"SP"}, "postal_code": {postal}}
		before := pt.attempts(t)
		res := pt.post(t, "/checkout/"+url.PathEscape(number)+"/attempts", form, nil)
		if res.status >= 500 {
			t.Fatalf("POST checkout form %v of %q = %d, want below 500", form, number, res.status)
		}
		if pt.attempts(t) == before {
			return
		}
		mi, known := providers.Lookup(providers.Method(method))
		switch {
		case number != string(o.po.Number) || token != pt.s.Token(o.po.Number):
			t.Fatalf("POST checkout form %v of %q started an attempt without the order's token", form, number)
		case csrf != o.csrf:
			t.Fatalf("POST checkout form %v of %q started an attempt without the CSRF token", form, number)
		case !known || mi.Currency != o.po.Amount.Currency:
			t.Fatalf("POST checkout form %v started an attempt of method %q for a %s order", form, method, o.po.Amount.Currency)
		}
		if mi.NeedsPayer {
			payer := providers.Payer{Name: name, Email: email, TaxID: taxID, Address: providers.Address{
				Line1: line1, City: "São Paulo", State: "SP", PostalCode: postal}}
			if _, err := checkPayer(mi, payer); err != nil {
				t.Fatalf("POST checkout form %v started a Boleto attempt for a payer checkPayer refuses: %v", form, err)
			}
		}
	})
}
