package rapydsim_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapydsim"
	"github.com/paygate/paygate/providers/simkit"
)

// apmRequest is a payment request of one of the methods Rapyd took over
// from Stripe, in the method's currency.
func apmRequest(m providers.Method, attempt string) providers.PaymentRequest {
	r := request(m, attempt, 0)
	switch m {
	case providers.IDEAL:
		r.Amount = paygate.New(1050, paygate.EUR)
	case providers.PayNow:
		r.Amount, r.ReturnURL = paygate.New(1050, paygate.SGD), ""
	case providers.Boleto:
		r.Amount, r.ReturnURL = paygate.New(12345, paygate.BRL), ""
		r.Payer = providers.Payer{Name: "Maria da Silva", Email: "maria@example.com", TaxID: "529.982.247-25",
			Address: providers.Address{Line1: "Av. Paulista 1000", City: "São Paulo", State: "SP", PostalCode: "01310-100", Country: "BR"}}
	}
	return r
}

// TestAPMFlows: iDEAL, PayNow and Boleto through the real client against
// the simulator: create, the next action, approve, the webhook parsed,
// the payment succeeded, the refund (or none, for Boleto), the report's
// lines, and the payment found by its attempt.
func TestAPMFlows(t *testing.T) {
	for _, m := range []providers.Method{providers.IDEAL, providers.PayNow, providers.Boleto} {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t, options{})
			ctx := context.Background()
			attempt := "A-" + string(m)
			req := apmRequest(m, attempt)
			before := time.Now()
			p, err := e.client.CreatePayment(ctx, req)
			if err != nil {
				t.Fatalf("CreatePayment: %v", err)
			}
			if !strings.HasPrefix(p.Ref, "payment_") || p.Status != providers.StatusPending || p.Amount != req.Amount {
				t.Fatalf("CreatePayment = %+v, want a pending payment_… of %s", p, req.Amount)
			}
			checkNextAction(t, e, m, p, before)

			got, err := e.client.GetPayment(ctx, p.Ref)
			if err != nil || got != p {
				t.Fatalf("GetPayment = %+v, %v, want %+v", got, err, p)
			}
			if m == providers.Boleto {
				if err := e.client.CancelPayment(ctx, p.Ref); !errors.Is(err, providers.ErrNotCancelable) {
					t.Fatalf("CancelPayment(boleto) = %v, want ErrNotCancelable", err)
				}
			}

			if err := e.sim.Approve(ctx, p.Ref); err != nil {
				t.Fatalf("Approve: %v", err)
			}
			waitFor(t, "PAYMENT_COMPLETED", func() bool { return len(e.recv.ofType("PAYMENT_COMPLETED")) == 1 })
			ev := e.recv.ofType("PAYMENT_COMPLETED")[0].Events[0]
			if ev.Type != providers.EventPaymentSucceeded || ev.PaymentRef != p.Ref || ev.Amount != req.Amount ||
				ev.Attempt != attempt || ev.PaymentOrder != "P12345678" {
				t.Fatalf("PAYMENT_COMPLETED event %+v, want payment.succeeded of %s for %s", ev, req.Amount, attempt)
			}
			if got, err := e.client.GetPayment(ctx, p.Ref); err != nil || got.Status != providers.StatusSucceeded {
				t.Fatalf("GetPayment after Approve = %+v, %v, want succeeded", got, err)
			}

			half := paygate.New(req.Amount.Minor/2, req.Amount.Currency)
			rreq := providers.RefundRequest{PaymentRef: p.Ref, Amount: half, IdempotencyKey: "refund:RF-" + string(m), Refund: "RF-" + string(m)}
			if m == providers.Boleto {
				if e.client.Refundable(m) {
					t.Fatalf("Refundable(boleto) = true, want the list's is_refundable false")
				}
				if _, err := e.client.Refund(ctx, rreq); !providers.IsUnsupported(err) {
					t.Fatalf("Refund(boleto) = %v, want ErrUnsupported", err)
				}
			} else {
				if !e.client.Refundable(m) {
					t.Fatalf("Refundable(%s) = false, want true", m)
				}
				r, err := e.client.Refund(ctx, rreq)
				if err != nil || r.Amount != half || r.Status != providers.RefundPending {
					t.Fatalf("Refund = %+v, %v, want pending %s", r, err, half)
				}
				waitFor(t, "REFUND_COMPLETED", func() bool { return len(e.recv.ofType("REFUND_COMPLETED")) == 1 })
				rev := e.recv.ofType("REFUND_COMPLETED")[0].Events[0]
				if rev.Type != providers.EventRefunded || rev.Amount != half || rev.Refund != rreq.Refund || rev.PaymentRef != p.Ref {
					t.Fatalf("REFUND_COMPLETED event %+v, want refund.succeeded of %s for %s", rev, half, rreq.Refund)
				}
			}

			var buf bytes.Buffer
			if err := e.sim.SettlementReport(&buf, rapydsim.ReportOptions{}); err != nil {
				t.Fatalf("SettlementReport: %v", err)
			}
			var lines []providers.ReportLine
			if err := e.client.ParseSettlementReport(ctx, &buf, func(l providers.ReportLine) error {
				lines = append(lines, l)
				return l.Err
			}); err != nil {
				t.Fatalf("ParseSettlementReport: %v\n%s", err, buf.String())
			}
			wantLines := 2
			if m == providers.Boleto {
				wantLines = 1
			}
			if len(lines) != wantLines {
				t.Fatalf("report lines %+v, want %d", lines, wantLines)
			}
			charge := lines[0]
			if charge.Category != providers.ReportCharge || charge.Gross != req.Amount || charge.PaymentRef != p.Ref ||
				charge.Attempt != attempt || charge.Fee.Currency != req.Amount.Currency || charge.Fee.Minor <= 0 {
				t.Fatalf("charge line %+v, want a charge of %s with a fee", charge, req.Amount)
			}
			if wantLines == 2 && (lines[1].Category != providers.ReportRefund || lines[1].Gross != half.Neg()) {
				t.Fatalf("refund line %+v, want a refund of -%s", lines[1], half)
			}

			found, err := e.client.FindPayment(ctx, req)
			if err != nil || found.Ref != p.Ref || found.Status != providers.StatusSucceeded {
				t.Fatalf("FindPayment = %+v, %v, want %s succeeded", found, err, p.Ref)
			}
			_, err = e.client.FindPayment(ctx, apmRequest(m, "A-none"))
			wantCode(t, "FindPayment(unknown attempt)", err, paygate.ENOTFOUND)
		})
	}
}

// checkNextAction checks what the buyer of p is shown, and that the
// simulator's hosted page shows it.
func checkNextAction(t *testing.T, e *env, m providers.Method, p providers.Payment, before time.Time) {
	t.Helper()
	a := p.NextAction
	switch m {
	case providers.IDEAL:
		if a != (providers.NextAction{Type: providers.ActionRedirect, URL: e.base + "/pay/" + p.Ref}) {
			t.Fatalf("iDEAL next action %+v, want a redirect to the bank page", a)
		}
	case providers.PayNow:
		if a.Type != providers.ActionQR || !strings.HasPrefix(a.QRImageURL, "data:image/png;base64,") || len(a.QRData) < 8 {
			t.Fatalf("PayNow next action %+v, want a QR code with its image", a)
		}
		body, crc := a.QRData[:len(a.QRData)-4], a.QRData[len(a.QRData)-4:]
		if !strings.HasPrefix(a.QRData, "000201010212") || !strings.Contains(a.QRData, "SG.PAYNOW") ||
			!strings.Contains(a.QRData, "540510.50") || !strings.Contains(a.QRData, "5303702") ||
			!strings.HasSuffix(body, "6304") || crc != fmt.Sprintf("%04X", simkit.CRC16CCITT(body)) {
			t.Fatalf("PayNow QR %q, want a dynamic SGQR payload of 10.50 SGD with its CRC", a.QRData)
		}
		if d := a.ExpiresAt.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
			t.Fatalf("PayNow QR expires at %v, want in an hour", a.ExpiresAt)
		}
	case providers.Boleto:
		if a.Type != providers.ActionVoucher || !simkit.ValidBoletoLine(a.VoucherNumber) || !strings.HasSuffix(a.VoucherNumber, "0000012345") ||
			a.URL != e.base+"/pay/"+p.Ref {
			t.Fatalf("Boleto next action %+v, want a voucher with a valid digitable line of 123.45 BRL", a)
		}
		if d := a.ExpiresAt.Sub(before); d < 3*24*time.Hour || d > 5*24*time.Hour {
			t.Fatalf("Boleto expires at %v, want in three to four days", a.ExpiresAt)
		}
	}
	page := get(t, e.base+"/pay/"+p.Ref)
	for _, want := range map[providers.Method][]string{
		providers.IDEAL:  {"iDEAL", "10.50 EUR", "/approve", "/decline"},
		providers.PayNow: {"PayNow QR", "10.50 SGD", "data:image/png;base64,", "/approve"},
		providers.Boleto: {"Boleto", "123.45 BRL", simkit.FormatBoletoLine(a.VoucherNumber), "/approve"},
	}[m] {
		if !strings.Contains(page, want) {
			t.Fatalf("hosted page of %s lacks %q:\n%s", m, want, page)
		}
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", u, resp.StatusCode, b.String())
	}
	return b.String()
}

// TestHostedBankPage: the iDEAL page's Approve pays and returns the buyer
// to complete_payment_url; Decline fails the payment.
func TestHostedBankPage(t *testing.T) {
	e := newEnv(t, options{})
	ctx := context.Background()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		action string
		want   providers.Status
	}{{"approve", providers.StatusSucceeded}, {"decline", providers.StatusFailed}} {
		p, err := e.client.CreatePayment(ctx, apmRequest(providers.IDEAL, "A-page-"+tc.action))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, p.NextAction.URL+"/"+tc.action, strings.NewReader(url.Values{}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", strings.TrimSuffix(e.base, mount))
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != returnURL {
			t.Fatalf("%s: %d to %q, want 303 to the return URL", tc.action, resp.StatusCode, resp.Header.Get("Location"))
		}
		if got, err := e.client.GetPayment(ctx, p.Ref); err != nil || got.Status != tc.want {
			t.Fatalf("GetPayment after %s = %+v, %v, want %s", tc.action, got, err, tc.want)
		}
	}
}

// TestMethodTypesFromTheList: the client finds the simulator's types in
// its list even when they are not the pattern's guess; a method the
// account cannot use is unavailable, listed or configured.
func TestMethodTypesFromTheList(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, options{
		simTypes:    map[providers.Method]string{providers.IDEAL: "nl_ibp_bank", providers.PayNow: "sg_sgqr_bank"},
		unavailable: []providers.Method{providers.Boleto},
	})
	for _, m := range []providers.Method{providers.IDEAL, providers.PayNow} {
		if _, err := e.client.CreatePayment(ctx, apmRequest(m, "A-"+string(m))); err != nil {
			t.Fatalf("CreatePayment(%s) with a type unlike the pattern: %v", m, err)
		}
	}
	if typ, err := e.client.ResolveMethodType(ctx, providers.PayNow); err != nil || typ.Type != "sg_sgqr_bank" {
		t.Fatalf("ResolveMethodType(paynow) = %+v, %v, want sg_sgqr_bank", typ, err)
	}
	_, err := e.client.CreatePayment(ctx, apmRequest(providers.Boleto, "A-boleto"))
	wantCode(t, "CreatePayment(unlisted boleto)", err, paygate.EUNAVAILABLE)
	if !providers.IsMethodUnavailable(err) {
		t.Fatalf("CreatePayment(unlisted boleto) = %v, want ErrMethodUnavailable", err)
	}

	// Configured, the type reaches the simulator, which refuses it as
	// Rapyd does: ERROR_GET_PAYMENT_METHOD_TYPE.
	c := newEnv(t, options{unavailable: []providers.Method{providers.IDEAL},
		clientTypes: map[providers.Method]string{providers.IDEAL: "nl_ideal_bank"}})
	_, err = c.client.CreatePayment(ctx, apmRequest(providers.IDEAL, "A-ideal"))
	wantCode(t, "CreatePayment(configured, unavailable)", err, paygate.EUNAVAILABLE)
	if !providers.IsMethodUnavailable(err) || !strings.Contains(err.Error(), "ERROR_GET_PAYMENT_METHOD_TYPE") {
		t.Fatalf("CreatePayment(configured, unavailable) = %v, want ErrMethodUnavailable from ERROR_GET_PAYMENT_METHOD_TYPE", err)
	}
	if err := c.client.CheckMethodTypes(ctx); err == nil || !strings.Contains(err.Error(), "nl_ideal_bank") {
		t.Fatalf("CheckMethodTypes = %v, want it to name nl_ideal_bank", err)
	}
}

// TestBoletoPayerChecked: the simulator refuses a boleto whose fields lack
// what its type requires, as the client would not send.
func TestBoletoPayerChecked(t *testing.T) {
	e := newEnv(t, options{clientTypes: map[providers.Method]string{providers.Boleto: "br_boleto_cash"}})
	typ, err := e.client.ResolveMethodType(context.Background(), providers.Boleto)
	if err != nil || !typ.Listed || typ.IsRefundable || len(typ.Fields) == 0 {
		t.Fatalf("ResolveMethodType(boleto) = %+v, %v, want the listed, unrefundable type with fields", typ, err)
	}
	req := apmRequest(providers.Boleto, "A-boleto")
	req.Payer.Address.PostalCode = ""
	_, err = e.client.CreatePayment(context.Background(), req)
	wantCode(t, "CreatePayment(no postal code)", err, paygate.EINVALID)
	if !strings.Contains(err.Error(), "postal_code") {
		t.Fatalf("CreatePayment(no postal code) = %v, want it to name postal_code", err)
	}
}
