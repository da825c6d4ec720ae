package stripesim

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers/simkit"
	stripe "github.com/stripe/stripe-go/v76"
)

// browser is an HTTP client that does not follow redirects, as a test of
// what the buyer's browser is told.
func browser() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// resolve resolves a form action of a page, as a browser does.
func resolve(t *testing.T, page, action string) string {
	t.Helper()
	base, err := url.Parse(page)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := url.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	return base.ResolveReference(ref).String()
}

func TestIDEALPage(t *testing.T) {
	tests := []struct {
		action     string
		returnURL  string
		wantStatus string
		wantEvent  stripe.EventType
		wantPI     stripe.PaymentIntentStatus
	}{
		{"approve", "https://shop.example/return?order=P12345678", "succeeded", "payment_intent.succeeded", stripe.PaymentIntentStatusSucceeded},
		{"decline", "https://shop.example/return", "failed", "payment_intent.payment_failed", stripe.PaymentIntentStatusRequiresPaymentMethod},
	}
	for _, tc := range tests {
		t.Run(tc.action, func(t *testing.T) {
			env := newEnv(t, 0)
			p := methodCases()[0].params()
			p.ReturnURL = stripe.String(tc.returnURL)
			p.PaymentMethodData.IDEAL = nil // the buyer picks the bank on the page
			pi, err := env.client.PaymentIntents.New(p)
			if err != nil {
				t.Fatal(err)
			}
			page := pi.NextAction.RedirectToURL.URL
			resp, html := fetch(t, browser(), http.MethodGet, page, nil)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("GET page = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			for _, want := range []string{"Stripe sandbox", "€10.50", `method="post"`, `name="bank" value="rabobank"`,
				`action="` + pi.ID + `/approve"`, `action="` + pi.ID + `/decline"`, `name="viewport"`} {
				if !strings.Contains(html, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			resp, _ = fetch(t, browser(), http.MethodPost, resolve(t, page, pi.ID+"/"+tc.action), url.Values{"bank": {"rabobank"}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST %s = %d, want 303", tc.action, resp.StatusCode)
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			ret, _ := url.Parse(tc.returnURL)
			q := loc.Query()
			if loc.Host != ret.Host || loc.Path != ret.Path || q.Get("payment_intent") != pi.ID ||
				q.Get("payment_intent_client_secret") != pi.ClientSecret || q.Get("redirect_status") != tc.wantStatus {
				t.Errorf("Location = %s, want %s with payment_intent, client secret and redirect_status=%s", loc, tc.returnURL, tc.wantStatus)
			}
			for k, v := range ret.Query() {
				if q.Get(k) != v[0] {
					t.Errorf("Location lost the return URL's %s=%s: %s", k, v[0], loc)
				}
			}
			evs := env.hooks.received()
			if len(evs) == 0 || evs[0].Type != tc.wantEvent {
				t.Fatalf("events = %v, want %s first", evs, tc.wantEvent)
			}
			got, err := env.client.PaymentIntents.Get(pi.ID, &stripe.PaymentIntentParams{Expand: []*string{stripe.String("latest_charge")}})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantPI {
				t.Errorf("status = %s, want %s", got.Status, tc.wantPI)
			}
			if tc.action == "approve" && got.LatestCharge.PaymentMethodDetails.IDEAL.Bank != "rabobank" {
				t.Errorf("charge bank = %q, want the bank chosen on the page", got.LatestCharge.PaymentMethodDetails.IDEAL.Bank)
			}
		})
	}
}

func TestReturnURL(t *testing.T) {
	tests := []struct{ base, want string }{
		{"https://a.example/r", "https://a.example/r?payment_intent=pi_1&payment_intent_client_secret=pi_1_secret_x&redirect_status=succeeded"},
		{"https://a.example/r?x=1&y=a+b", "https://a.example/r?x=1&y=a+b&payment_intent=pi_1&payment_intent_client_secret=pi_1_secret_x&redirect_status=succeeded"},
		{"https://a.example/r?x=1#frag", "https://a.example/r?x=1&payment_intent=pi_1&payment_intent_client_secret=pi_1_secret_x&redirect_status=succeeded#frag"},
	}
	for _, tc := range tests {
		if got := returnURL(tc.base, "pi_1", "pi_1_secret_x", "succeeded"); got != tc.want {
			t.Errorf("returnURL(%q) = %q, want %q", tc.base, got, tc.want)
		}
	}
}

func TestPayNowPageAndQR(t *testing.T) {
	for _, action := range []string{"approve", "decline"} {
		t.Run(action, func(t *testing.T) {
			env := newEnv(t, 0)
			pi, err := env.client.PaymentIntents.New(methodCases()[1].params())
			if err != nil {
				t.Fatal(err)
			}
			qr := pi.NextAction.PayNowDisplayQRCode
			page := qr.HostedInstructionsURL
			resp, html := fetch(t, browser(), http.MethodGet, page, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET page = %d", resp.StatusCode)
			}
			for _, want := range []string{"Stripe sandbox", "S$25.99", `src="../qr/` + pi.ID + `.png"`, `method="post"`} {
				if !strings.Contains(html, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if got := resolve(t, page, "../qr/"+pi.ID+".png"); got != qr.ImageURLPNG {
				t.Errorf("page image %s, want %s", got, qr.ImageURLPNG)
			}
			resp, img := fetch(t, browser(), http.MethodGet, qr.ImageURLPNG, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
				t.Fatalf("GET png = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if _, err := png.Decode(bytes.NewReader([]byte(img))); err != nil {
				t.Errorf("png.Decode: %v", err)
			}
			resp, svg := fetch(t, browser(), http.MethodGet, qr.ImageURLSVG, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(svg, "<svg") {
				t.Errorf("GET svg = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}

			resp, html = fetch(t, browser(), http.MethodPost, resolve(t, page, pi.ID+"/"+action), url.Values{})
			if resp.StatusCode != 200 || !strings.Contains(html, "Stripe sandbox") {
				t.Fatalf("POST %s = %d", action, resp.StatusCode)
			}
			want := map[string]stripe.EventType{"approve": "payment_intent.succeeded", "decline": "payment_intent.payment_failed"}[action]
			if evs := env.hooks.received(); len(evs) == 0 || evs[0].Type != want {
				t.Errorf("events = %v, want %s", evs, want)
			}
			// The page still shows after the payment moved on.
			if resp, _ := fetch(t, browser(), http.MethodGet, page, nil); resp.StatusCode != 200 {
				t.Errorf("GET page after %s = %d", action, resp.StatusCode)
			}
		})
	}
}

func TestBoletoPage(t *testing.T) {
	env := newEnv(t, 0)
	pi, err := env.client.PaymentIntents.New(boletoParams())
	if err != nil {
		t.Fatal(err)
	}
	b := pi.NextAction.BoletoDisplayDetails
	resp, html := fetch(t, browser(), http.MethodGet, b.HostedVoucherURL, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET voucher = %d", resp.StatusCode)
	}
	for _, want := range []string{"Stripe sandbox", simkit.FormatBoletoLine(b.Number), "R$ 123,45", "PAYGATE SANDBOX", "Maria da Silva",
		`action="` + pi.ID + `/pay"`, `method="post"`, "Pay this boleto at a bank"} {
		if !strings.Contains(html, want) {
			t.Errorf("voucher lacks %q", want)
		}
	}
	if strings.Contains(html, "52998224725") {
		t.Errorf("voucher shows the full CPF")
	}
	resp, pdf := fetch(t, browser(), http.MethodGet, b.PDF, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(pdf, "%PDF-1.4") ||
		!strings.HasSuffix(pdf, "%%EOF\n") || !strings.Contains(pdf, simkit.FormatBoletoLine(b.Number)) {
		t.Errorf("GET pdf = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, _ = fetch(t, browser(), http.MethodPost, resolve(t, b.HostedVoucherURL, pi.ID+"/pay"), url.Values{})
	if resp.StatusCode != 200 {
		t.Fatalf("POST pay = %d", resp.StatusCode)
	}
	if evs := env.hooks.received(); len(evs) != 2 || evs[0].Type != "payment_intent.succeeded" || evs[1].Type != "charge.succeeded" {
		t.Errorf("events = %v", evs)
	}
}

func TestPagesNotFound(t *testing.T) {
	env := newEnv(t, 0)
	pi, err := env.client.PaymentIntents.New(methodCases()[1].params()) // a PayNow intent
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ method, path string }{
		{http.MethodGet, "/ideal/pi_missing"},
		{http.MethodGet, "/ideal/" + pi.ID}, // not an iDEAL payment
		{http.MethodPost, "/ideal/" + pi.ID + "/approve"},
		{http.MethodPost, "/paynow/" + pi.ID + "/refund"},
		{http.MethodGet, "/boleto/" + pi.ID},
		{http.MethodPost, "/boleto/pi_missing/pay"},
		{http.MethodGet, "/qr/pi_missing.png"},
		{http.MethodGet, "/qr/" + pi.ID + ".gif"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, _ := fetch(t, browser(), tc.method, env.base+tc.path, url.Values{})
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s = %d, want 404", tc.method, tc.path, resp.StatusCode)
			}
		})
	}
	if evs := env.hooks.received(); len(evs) != 0 {
		t.Errorf("refused page actions sent %d events", len(evs))
	}
	// Buttons are POST only.
	resp, _ := fetch(t, browser(), http.MethodGet, env.base+"/paynow/"+pi.ID+"/approve", nil)
	if resp.StatusCode == 200 || resp.StatusCode == 303 {
		t.Errorf("GET approve = %d, want a refusal", resp.StatusCode)
	}
}
