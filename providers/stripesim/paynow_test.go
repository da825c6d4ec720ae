package stripesim

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/paygate/paygate/providers/simkit"
	stripe "github.com/stripe/stripe-go/v76"
)

// tlv is one parsed EMVCo tag.
type tlv struct{ tag, value string }

// parseTLV parses an EMVCo payload: 2-digit tag, 2-digit decimal length,
// value.
func parseTLV(s string) ([]tlv, error) {
	var out []tlv
	for len(s) > 0 {
		if len(s) < 4 {
			return nil, fmt.Errorf("truncated tag at %q", s)
		}
		n, err := strconv.Atoi(s[2:4])
		if err != nil || len(s) < 4+n {
			return nil, fmt.Errorf("bad length at %q", s)
		}
		out = append(out, tlv{s[:2], s[4 : 4+n]})
		s = s[4+n:]
	}
	return out, nil
}

func tlvMap(t *testing.T, s string) map[string]string {
	t.Helper()
	list, err := parseTLV(s)
	if err != nil {
		t.Fatalf("parseTLV(%q): %v", s, err)
	}
	m := map[string]string{}
	for _, x := range list {
		if _, dup := m[x.tag]; dup {
			t.Errorf("tag %s repeated", x.tag)
		}
		m[x.tag] = x.value
	}
	return m
}

// checkPayNowPayload checks an SGQR PayNow payload tag by tag.
func checkPayNowPayload(t *testing.T, p, wantAmount, wantRef string) {
	t.Helper()
	m := tlvMap(t, p)
	want := map[string]string{"00": "01", "01": "12", "52": "0000", "53": "702", "54": wantAmount, "58": "SG", "60": "Singapore"}
	for tag, v := range want {
		if m[tag] != v {
			t.Errorf("tag %s = %q, want %q", tag, m[tag], v)
		}
	}
	if m["59"] == "" || len(m["59"]) > 25 {
		t.Errorf("tag 59 = %q, want a merchant name of 1–25 characters", m["59"])
	}
	mai := tlvMap(t, m["26"])
	if mai["00"] != "SG.PAYNOW" || mai["01"] != "2" || mai["02"] == "" || mai["03"] != "0" || len(mai["04"]) != 8 {
		t.Errorf("tag 26 = %v, want SG.PAYNOW, proxy type 2 (UEN), a proxy, not editable, an expiry date", mai)
	}
	if add := tlvMap(t, m["62"]); add["01"] != wantRef {
		t.Errorf("tag 62.01 = %q, want %q", add["01"], wantRef)
	}
	if !strings.HasSuffix(p[:len(p)-4], "6304") {
		t.Fatalf("payload does not end with tag 63: %q", p)
	}
	if got, want := p[len(p)-4:], fmt.Sprintf("%04X", simkit.CRC16CCITT(p[:len(p)-4])); got != want {
		t.Errorf("CRC = %s, want %s", got, want)
	}
}

// TestPayNowThroughAPI checks the payload stripe-go hands the production
// client.
func TestPayNowThroughAPI(t *testing.T) {
	env := newEnv(t, 0)
	pi, err := env.client.PaymentIntents.New(methodCases()[1].params())
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.ToUpper(strings.TrimPrefix(pi.ID, "pi_"))
	checkPayNowPayload(t, pi.NextAction.PayNowDisplayQRCode.Data, "25.99", ref)

	if err := env.sim.Approve(t.Context(), pi.ID); err != nil {
		t.Fatal(err)
	}
	got, err := env.client.PaymentIntents.Get(pi.ID, &stripe.PaymentIntentParams{Expand: []*string{stripe.String("latest_charge")}})
	if err != nil {
		t.Fatal(err)
	}
	if r := got.LatestCharge.PaymentMethodDetails.PayNow.Reference; r != ref {
		t.Errorf("charge paynow reference = %q, want %q", r, ref)
	}
}
