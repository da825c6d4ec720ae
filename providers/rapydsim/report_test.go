package rapydsim_test

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
	"github.com/paygate/paygate/providers/rapydsim"
)

// reportDay is a settled day: KakaoPay and Samsung Pay payments of 15000
// KRW, a KakaoPay payment of 2,000,000 KRW, a refund of 5000 KRW of the
// first and a rejected refund of the second, and a declined payment.
type reportDay struct {
	e    *env
	paid []providers.Payment
}

func newReportDay(t *testing.T) reportDay {
	t.Helper()
	ctx := context.Background()
	e := newEnv(t, options{backoff: 5 * time.Millisecond})
	d := reportDay{e: e}
	d.paid = append(d.paid, e.paid(t, providers.KakaoPay, "att-1"), e.paid(t, providers.SamsungPay, "att-2"))
	big, err := e.client.CreatePayment(ctx, request(providers.KakaoPay, "att-3", 2000000))
	if err != nil {
		t.Fatalf("CreatePayment: %v", err)
	}
	if err := e.sim.Approve(ctx, big.Ref); err != nil {
		t.Fatalf("Approve: %v", err)
	}
	d.paid = append(d.paid, big)
	declined := e.create(t, providers.KakaoPay, "att-4")
	if err := e.sim.Decline(ctx, declined.Ref); err != nil {
		t.Fatalf("Decline: %v", err)
	}
	if _, err := e.client.Refund(ctx, refundOf(d.paid[0], 5000, "RF-1")); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	e.sim.FailNextRefund()
	if _, err := e.client.Refund(ctx, refundOf(d.paid[1], 1000, "RF-2")); err != nil {
		t.Fatalf("Refund(rejected): %v", err)
	}
	return d
}

// parse writes the report with opts and reads it back with the real
// client, failing on any line with an error.
func (d reportDay) parse(t *testing.T, opts rapydsim.ReportOptions) ([]providers.ReportLine, string) {
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

// checkPayout checks that the report has one payout per currency, moving
// minus the sum of the nets of that currency's other lines.
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
	lines, text := d.parse(t, rapydsim.ReportOptions{Payout: true})
	if len(lines) != 3+1+1 {
		t.Fatalf("report has %d lines, want 3 payments, 1 refund, 1 payout:\n%s", len(lines), text)
	}
	wantFee := []int64{225 + 100, 225 + 100, 30000 + 100} // 1.5 % rounded half up, plus 100 won
	for i, p := range d.paid {
		ch := byRef(lines, p.Ref, providers.ReportCharge)
		if len(ch) != 1 {
			t.Fatalf("payment lines of %s = %+v, want 1", p.Ref, ch)
		}
		l := ch[0]
		wantAttempt := []string{"att-1", "att-2", "att-3"}[i]
		if l.Gross != p.Amount || l.Fee != paygate.New(wantFee[i], paygate.KRW) || l.ProviderCategory != "PAYMENT" ||
			!strings.HasPrefix(l.ID, "tx_") || l.CreatedAt.IsZero() || l.PaymentOrder != "P12345678" || l.Attempt != wantAttempt {
			t.Errorf("payment line %d = %+v, want gross %v, fee %d, P12345678, %s", i, l, p.Amount, wantFee[i], wantAttempt)
		}
	}
	rf := byRef(lines, d.paid[0].Ref, providers.ReportRefund)
	if len(rf) != 1 || rf[0].Gross != paygate.New(-5000, paygate.KRW) || !rf[0].Fee.IsZero() || rf[0].Attempt != "att-1" {
		t.Errorf("refund lines = %+v, want one of -5000 KRW without fee", rf)
	}
	if rf := byRef(lines, d.paid[1].Ref, providers.ReportRefund); len(rf) != 0 {
		t.Errorf("rejected refund's lines = %+v, want none", rf)
	}
	payouts := checkPayouts(t, lines)
	if want := paygate.New(-(15000*2 + 2000000 - 325*2 - 30100 - 5000), paygate.KRW); payouts[paygate.KRW] != want {
		t.Errorf("KRW payout = %v, want %v", payouts[paygate.KRW], want)
	}
	for _, want := range []string{
		"transaction_id,created_at,transaction_type,payment_id,merchant_reference_id,metadata_payment_order,gross_amount,fee_amount,net_amount,currency\n",
		",PAYMENT," + d.paid[0].Ref + ",att-1,P12345678,15000,325,14675,KRW\n",
		",PAYMENT," + d.paid[2].Ref + ",att-3,P12345678,2000000,30100,1969900,KRW\n",
		",REFUND," + d.paid[0].Ref + ",att-1,P12345678,-5000,0,-5000,KRW\n",
		",PAYOUT,,,,-1994250,0,-1994250,KRW\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	_, again := d.parse(t, rapydsim.ReportOptions{Payout: true})
	if again != text {
		t.Errorf("second report differs:\n%s\nfirst:\n%s", again, text)
	}
}

func TestSettlementReportOptions(t *testing.T) {
	d := newReportDay(t)
	lost := d.paid[0].Ref
	at := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	lines, text := d.parse(t, rapydsim.ReportOptions{
		Payout: true, FeeBasisPoints: 300, Omit: []string{lost},
		Extra: []rapydsim.ExtraLine{
			// A payment the simulator never made.
			{PaymentRef: "payment_never", PaymentOrder: "P-ghost", Attempt: "att-ghost", Gross: paygate.New(7000, paygate.KRW),
				Fee: paygate.New(210, paygate.KRW), Created: at},
			// A known payment with another amount.
			{ID: "tx_other", PaymentRef: d.paid[1].Ref, Gross: paygate.New(14000, paygate.KRW)},
			// An unknown type in another currency.
			{Category: "PROMOTION_CREDIT", Gross: paygate.New(250, paygate.USD)},
		},
	})
	for _, cat := range []string{providers.ReportCharge, providers.ReportRefund} {
		if got := byRef(lines, lost, cat); len(got) != 0 {
			t.Errorf("omitted payment's %s lines = %+v, want none", cat, got)
		}
	}
	other := byRef(lines, d.paid[1].Ref, providers.ReportCharge)
	if len(other) != 2 || other[0].Fee != paygate.New(450+100, paygate.KRW) ||
		other[1].ID != "tx_other" || other[1].Gross != paygate.New(14000, paygate.KRW) || other[1].ProviderCategory != "PAYMENT" {
		t.Errorf("payment lines of %s = %+v, want the simulator's (fee 3 %% + 100) and a 14000 KRW one", d.paid[1].Ref, other)
	}
	ghost := byRef(lines, "payment_never", providers.ReportCharge)
	if len(ghost) != 1 || ghost[0].Net != paygate.New(6790, paygate.KRW) || ghost[0].PaymentOrder != "P-ghost" ||
		ghost[0].Attempt != "att-ghost" || !ghost[0].CreatedAt.Equal(at) || !strings.HasPrefix(ghost[0].ID, "tx_") {
		t.Errorf("extra line = %+v, want payment_never 7000 - 210 KRW at %v", ghost, at)
	}
	payouts := checkPayouts(t, lines)
	if want := paygate.New(-250, paygate.USD); payouts[paygate.USD] != want {
		t.Errorf("USD payout = %v, want %v", payouts[paygate.USD], want)
	}
	if !strings.Contains(text, ",PROMOTION_CREDIT,,,,2.50,0.00,2.50,USD\n") {
		t.Errorf("report lacks the USD line:\n%s", text)
	}

	now := time.Now()
	if lines, _ := d.parse(t, rapydsim.ReportOptions{From: now.Add(time.Hour), Payout: true}); len(lines) != 0 {
		t.Errorf("report from %v = %+v, want no lines", now.Add(time.Hour), lines)
	}
	if lines, _ := d.parse(t, rapydsim.ReportOptions{From: now.Add(-time.Hour), To: now.Add(time.Hour)}); len(lines) != 4 {
		t.Errorf("report of the hour = %d lines, want 4", len(lines))
	}

	var buf bytes.Buffer
	for _, x := range []rapydsim.ExtraLine{
		{Gross: paygate.New(1, "JPY")},
		{Gross: paygate.New(100, paygate.KRW), Fee: paygate.New(1, paygate.USD)},
	} {
		err := d.e.sim.SettlementReport(&buf, rapydsim.ReportOptions{Extra: []rapydsim.ExtraLine{x}})
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
		opts  rapydsim.ReportOptions
	}{
		{"everything", nil, rapydsim.ReportOptions{Payout: true}},
		{"window", url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}},
			rapydsim.ReportOptions{From: from, To: to, Payout: true}},
		{"empty window", url.Values{"from": {to.Format(time.RFC3339)}}, rapydsim.ReportOptions{From: to, Payout: true}},
		{"no payout", url.Values{"payout": {"false"}}, rapydsim.ReportOptions{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want bytes.Buffer
			if err := d.e.sim.SettlementReport(&want, c.opts); err != nil {
				t.Fatal(err)
			}
			// Unsigned: the report is sandbox data.
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
