package stripesim_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/stripesim"
)

// reportDay is a settled day: two iDEAL payments (10.50 EUR), a PayNow
// payment (120.50 SGD) and a refund of 4.00 EUR of the first.
type reportDay struct {
	e      *faultEnv
	paid   []providers.Payment
	refund providers.Refund
}

func newReportDay(t *testing.T) reportDay {
	t.Helper()
	ctx := context.Background()
	e := newFaultEnv(t, 1)
	d := reportDay{e: e}
	d.paid = append(d.paid, e.pay(t), e.pay(t))
	sg, err := e.client.CreatePayment(ctx, providers.PaymentRequest{
		Method: providers.PayNow, Amount: paygate.New(12050, paygate.SGD), PaymentOrder: "P87654321",
		Attempt: "A-sgd", IdempotencyKey: "attempt:A-sgd",
	})
	if err != nil {
		t.Fatalf("CreatePayment(paynow): %v", err)
	}
	d.paid = append(d.paid, sg)
	for _, p := range d.paid {
		if err := e.sim.Approve(ctx, p.Ref); err != nil {
			t.Fatalf("Approve(%s): %v", p.Ref, err)
		}
	}
	if d.refund, err = e.client.Refund(ctx, refundOf(d.paid[0], 400, "RF-1")); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	return d
}

// parse writes the report with opts and reads it back with the real
// client, failing on any line with an error.
func (d reportDay) parse(t *testing.T, opts stripesim.ReportOptions) ([]providers.ReportLine, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := d.e.sim.SettlementReport(&buf, opts); err != nil {
		t.Fatalf("SettlementReport(%+v) = %v", opts, err)
	}
	text := buf.String()
	var lines []providers.ReportLine
	err := d.e.client.ParseSettlementReport(context.Background(), strings.NewReader(text), func(l providers.ReportLine) error {
		if l.Err != nil {
			t.Errorf("ParseSettlementReport: line %d: %v", l.Line, l.Err)
		}
		if net, err := l.Gross.Sub(l.Fee); err != nil || net != l.Net {
			t.Errorf("line %d: gross %v - fee %v != net %v", l.Line, l.Gross, l.Fee, l.Net)
		}
		lines = append(lines, l)
		return nil
	})
	if err != nil {
		t.Fatalf("ParseSettlementReport = %v\n%s", err, text)
	}
	return lines, text
}

func byRef(lines []providers.ReportLine, ref, category string) []providers.ReportLine {
	var out []providers.ReportLine
	for _, l := range lines {
		if l.PaymentRef == ref && l.Category == category {
			out = append(out, l)
		}
	}
	return out
}

// checkPayouts checks that each payout moves the sum of the nets of its
// currency's other lines, and returns the payouts by currency.
func checkPayouts(t *testing.T, lines []providers.ReportLine) map[paygate.Currency]paygate.Money {
	t.Helper()
	nets := map[paygate.Currency]int64{}
	payouts := map[paygate.Currency]paygate.Money{}
	for _, l := range lines {
		if l.Category == providers.ReportPayout {
			if _, dup := payouts[l.Gross.Currency]; dup {
				t.Errorf("two payouts in %s", l.Gross.Currency)
			}
			payouts[l.Gross.Currency] = l.Net
			continue
		}
		nets[l.Net.Currency] += l.Net.Minor
	}
	for c, n := range nets {
		if got := payouts[c]; got != paygate.New(-n, c) {
			t.Errorf("payout of %s = %v, want %v (minus the sum of the nets)", c, got, paygate.New(-n, c))
		}
	}
	if len(payouts) != len(nets) {
		t.Errorf("payouts %v, want one per currency of %v", payouts, nets)
	}
	return payouts
}

func TestSettlementReport(t *testing.T) {
	d := newReportDay(t)
	lines, text := d.parse(t, stripesim.ReportOptions{Payout: true})
	if len(lines) != 3+1+2 {
		t.Fatalf("report has %d lines, want 3 charges, 1 refund, 2 payouts:\n%s", len(lines), text)
	}
	for i, p := range d.paid {
		ch := byRef(lines, p.Ref, providers.ReportCharge)
		if len(ch) != 1 {
			t.Fatalf("charge lines of %s = %+v, want 1", p.Ref, ch)
		}
		l := ch[0]
		// 1.5 % rounded half up, plus the fixed fee.
		wantFee := map[paygate.Currency]int64{paygate.EUR: 16 + 25, paygate.SGD: 181 + 50}[p.Amount.Currency]
		if l.Gross != p.Amount || l.Fee != paygate.New(wantFee, p.Amount.Currency) || l.ProviderCategory != "charge" ||
			!strings.HasPrefix(l.ID, "txn_") || l.CreatedAt.IsZero() {
			t.Errorf("charge %d = %+v, want gross %v, fee %d", i, l, p.Amount, wantFee)
		}
		wantOrder, wantAttempt := "P12345678", []string{"A-1", "A-2", "A-sgd"}[i]
		if i == 2 {
			wantOrder = "P87654321"
		}
		if l.PaymentOrder != wantOrder || l.Attempt != wantAttempt {
			t.Errorf("charge %d metadata = %q, %q, want %q, %q", i, l.PaymentOrder, l.Attempt, wantOrder, wantAttempt)
		}
	}
	rf := byRef(lines, d.paid[0].Ref, providers.ReportRefund)
	if len(rf) != 1 || rf[0].Gross != paygate.New(-400, paygate.EUR) || !rf[0].Fee.IsZero() || rf[0].Attempt != "A-1" {
		t.Errorf("refund lines = %+v, want one of -4.00 EUR without fee", rf)
	}
	payouts := checkPayouts(t, lines)
	if want := paygate.New(-(1050-41)*2+400, paygate.EUR); payouts[paygate.EUR] != want {
		t.Errorf("EUR payout = %v, want %v", payouts[paygate.EUR], want)
	}
	for _, want := range []string{
		"balance_transaction_id,created_utc,reporting_category,gross,fee,net,currency,payment_intent_id,payment_metadata[payment_order],payment_metadata[attempt]\n",
		",charge,10.50,0.41,10.09,eur," + d.paid[0].Ref + ",P12345678,A-1\n",
		",charge,120.50,2.31,118.19,sgd,",
		",refund,-4.00,0.00,-4.00,eur," + d.paid[0].Ref + ",",
		",payout,-16.18,0.00,-16.18,eur,,,\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}

	// The same state writes the same bytes.
	_, again := d.parse(t, stripesim.ReportOptions{Payout: true})
	if again != text {
		t.Errorf("second report differs:\n%s\nfirst:\n%s", again, text)
	}
}

func TestSettlementReportOptions(t *testing.T) {
	d := newReportDay(t)
	lost := d.paid[0].Ref
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	lines, text := d.parse(t, stripesim.ReportOptions{
		Payout: true, FeeBasisPoints: -1, Omit: []string{lost},
		Extra: []stripesim.ExtraLine{
			// A payment the simulator never made.
			{PaymentRef: "pi_never", PaymentOrder: "P-ghost", Attempt: "A-ghost", Gross: paygate.New(500, paygate.EUR),
				Fee: paygate.New(10, paygate.EUR), Created: at},
			// A known payment with another amount, in a currency without
			// decimals.
			{ID: "txn_other", Category: "charge", PaymentRef: d.paid[1].Ref, Gross: paygate.New(1500, paygate.KRW)},
			// An unknown category.
			{Category: "climate_order", Gross: paygate.New(-3, paygate.EUR)},
		},
	})
	if got := byRef(lines, lost, providers.ReportCharge); len(got) != 0 {
		t.Errorf("omitted payment's charge lines = %+v, want none", got)
	}
	if got := byRef(lines, lost, providers.ReportRefund); len(got) != 0 {
		t.Errorf("omitted payment's refund lines = %+v, want none", got)
	}
	for _, l := range byRef(lines, d.paid[1].Ref, providers.ReportCharge) {
		if l.Gross.Currency == paygate.EUR && !l.Fee.IsZero() {
			t.Errorf("fee with FeeBasisPoints -1 = %v, want 0", l.Fee)
		}
	}
	ghost := byRef(lines, "pi_never", providers.ReportCharge)
	if len(ghost) != 1 || ghost[0].Net != paygate.New(490, paygate.EUR) || ghost[0].PaymentOrder != "P-ghost" ||
		ghost[0].Attempt != "A-ghost" || !ghost[0].CreatedAt.Equal(at) || !strings.HasPrefix(ghost[0].ID, "txn_") {
		t.Errorf("extra line = %+v, want pi_never 5.00 - 0.10 EUR at %v", ghost, at)
	}
	other := byRef(lines, d.paid[1].Ref, providers.ReportCharge)
	if len(other) != 2 || other[1].ID != "txn_other" || other[1].Gross != paygate.New(1500, paygate.KRW) {
		t.Errorf("charge lines of %s = %+v, want the simulator's and a 1500 KRW one", d.paid[1].Ref, other)
	}
	var climate int
	for _, l := range lines {
		if l.ProviderCategory == "climate_order" && l.Category == providers.ReportOther {
			climate++
		}
	}
	if climate != 1 {
		t.Errorf("climate_order lines = %d, want 1 (other)", climate)
	}
	payouts := checkPayouts(t, lines)
	if want := paygate.New(-(1050 + 490 - 3), paygate.EUR); payouts[paygate.EUR] != want {
		t.Errorf("EUR payout = %v, want %v", payouts[paygate.EUR], want)
	}
	if !strings.Contains(text, ",charge,1500,0,1500,krw,") {
		t.Errorf("report lacks the KRW line in whole won:\n%s", text)
	}

	// A window after the day has nothing, not even a payout; one around
	// it has everything.
	now := time.Now()
	if lines, _ := d.parse(t, stripesim.ReportOptions{From: now.Add(time.Hour), Payout: true}); len(lines) != 0 {
		t.Errorf("report from %v = %+v, want no lines", now.Add(time.Hour), lines)
	}
	if lines, _ := d.parse(t, stripesim.ReportOptions{From: now.Add(-time.Hour), To: now.Add(time.Hour)}); len(lines) != 4 {
		t.Errorf("report of the hour = %d lines, want 4", len(lines))
	}

	var buf bytes.Buffer
	for _, x := range []stripesim.ExtraLine{
		{Gross: paygate.New(1, "JPY")},
		{Gross: paygate.New(100, paygate.EUR), Fee: paygate.New(1, paygate.SGD)},
	} {
		err := d.e.sim.SettlementReport(&buf, stripesim.ReportOptions{Extra: []stripesim.ExtraLine{x}})
		if paygate.ErrorCode(err) != paygate.EINVALID || buf.Len() != 0 {
			t.Errorf("SettlementReport(extra %+v) = %v, wrote %d bytes, want EINVALID and nothing", x, err, buf.Len())
		}
	}
}

func TestSettlementReportHTTP(t *testing.T) {
	d := newReportDay(t)
	now := time.Now()
	from, to := now.Add(-time.Hour).UTC().Truncate(time.Second), now.Add(time.Hour).UTC().Truncate(time.Second)
	for _, c := range []struct {
		name  string
		query url.Values
		opts  stripesim.ReportOptions
	}{
		{"everything", nil, stripesim.ReportOptions{Payout: true}},
		{"window", url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}},
			stripesim.ReportOptions{From: from, To: to, Payout: true}},
		{"empty window", url.Values{"from": {to.Format(time.RFC3339)}}, stripesim.ReportOptions{From: to, Payout: true}},
		{"no payout", url.Values{"payout": {"false"}}, stripesim.ReportOptions{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want bytes.Buffer
			if err := d.e.sim.SettlementReport(&want, c.opts); err != nil {
				t.Fatal(err)
			}
			// No Authorization header: the report is sandbox data.
			resp, err := http.Get(d.e.base + "/reports/settlement.csv?" + c.query.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
				t.Fatalf("GET = %d %s, want 200 text/csv: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if string(body) != want.String() {
				t.Errorf("GET body =\n%s\nwant\n%s", body, want.String())
			}
		})
	}
	for _, q := range []string{"from=yesterday", "to=2024-03-01", "payout=maybe"} {
		resp, err := http.Get(d.e.base + "/reports/settlement.csv?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET ?%s = %d, want 400", q, resp.StatusCode)
		}
	}
}
