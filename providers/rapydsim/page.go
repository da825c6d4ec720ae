package rapydsim

import (
	"bytes"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/simkit"
)

//go:embed templates/*.html
var templates embed.FS

// pageData is what the hosted wallet page shows.
type pageData struct {
	ID          string
	Method      providers.Method
	Label       string
	Amount      string // "₩15,000", "10.50 EUR"
	Description string
	Reference   string
	Status      string // Rapyd's status
	StatusText  string // what it means, when it is not ACT
	PayURL      string
	QR          template.URL // a data: URL of a PNG of PayURL (Samsung Pay) or of the PayNow QR
	QRData      string       // PayNow: the QR's EMVCo payload
	Voucher     string       // Boleto: the digitable line, grouped as printed
	Expires     string       // PayNow and Boleto: when the code stops being payable
	Phone       string
	Error       string
}

// statusText explains a payment's status on the hosted page.
func statusText(status string) string {
	switch status {
	case statusClosed:
		return "This payment is already paid (CLO)."
	case statusCanceled:
		return "This payment was canceled by the merchant (CAN). Approving it now simulates a late payment."
	case statusError:
		return "This payment was declined (ERR). Approving it now simulates a late payment."
	case statusExpired:
		return "This payment has expired (EXP). Approving it now simulates a late payment."
	}
	return ""
}

// pagePolicy is the hosted pages' Content-Security-Policy: their inline
// style by its hash, the Samsung Pay QR code as a data URL, no script. The
// layout is part of the binary, so an error is a bug caught by any test.
func pagePolicy() string {
	p, err := simkit.PagePolicy(templates, "templates/layout.html", "data:")
	if err != nil {
		panic(err)
	}
	return p
}

// payPage serves GET /pay/{id}: the iDEAL bank page, the KakaoPay or
// Samsung Pay wallet page, or the page where a sandbox buyer pays a PayNow
// QR code or a boleto.
func (s *Simulator) payPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.snapshot(r.PathValue("id"))
	if !ok {
		s.pageError(w, http.StatusNotFound, "This payment does not exist in the Rapyd sandbox.")
		return
	}
	s.renderPay(w, http.StatusOK, p, "", "")
}

// payAnswer serves the Approve and Decline buttons of the hosted page: it
// acts as Approve or Decline, then sends the buyer to complete_payment_url
// or error_payment_url with 303 See Other.
func (s *Simulator) payAnswer(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if why := simkit.CrossSite(r, s.cfg.BaseURL); why != "" {
		s.log.Warn().Str(fieldPaymentRef, id).Str(fieldReason, why).Msg("rapydsim: cross-site form refused")
		s.pageError(w, http.StatusForbidden, "This form was sent from another site. Nothing was paid. Open the payment page again.")
		return
	}
	p, ok := s.snapshot(id)
	if !ok {
		s.pageError(w, http.StatusNotFound, "This payment does not exist in the Rapyd sandbox.")
		return
	}
	approve := strings.HasSuffix(r.URL.Path, "/approve")
	if approve && p.method == providers.SamsungPay {
		phone := strings.TrimSpace(r.PostFormValue("phone"))
		if phone != "" && !validPhone(phone) {
			s.renderPay(w, http.StatusBadRequest, p, phone, "Enter a phone number of 9 to 15 digits, such as 010-1234-5678, or scan the QR code.")
			return
		}
	}
	var err error
	next := p.completeURL
	if approve {
		err = s.Approve(r.Context(), id)
	} else {
		err = s.Decline(r.Context(), id)
		next = p.errorURL
	}
	if err != nil {
		s.pageError(w, http.StatusNotFound, "This payment does not exist in the Rapyd sandbox.")
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Simulator) renderPay(w http.ResponseWriter, httpStatus int, p payment, phone, problem string) {
	label := string(p.method)
	if mi, ok := providers.Lookup(p.method); ok {
		label = mi.Label
	}
	d := pageData{
		ID:          p.id,
		Method:      p.method,
		Label:       label,
		Amount:      formatAmount(p.amount),
		Description: p.description,
		Reference:   p.reference,
		Status:      p.status,
		StatusText:  statusText(p.status),
		PayURL:      s.cfg.BaseURL + "/pay/" + p.id,
		Phone:       phone,
		Error:       problem,
	}
	switch p.method {
	case providers.SamsungPay:
		if png, err := qrcode.Encode(d.PayURL, qrcode.Medium, 256); err == nil {
			d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
		}
	case providers.PayNow:
		d.QR, d.QRData = template.URL(p.qrPNG), p.qr
	case providers.Boleto:
		d.Voucher = simkit.FormatBoletoLine(p.voucher)
	}
	if p.expiration > 0 && (p.qr != "" || p.voucher != "") {
		d.Expires = time.Unix(p.expiration, 0).UTC().Format("2006-01-02 15:04 UTC")
	}
	s.render(w, httpStatus, "pay.html", d)
}

// pageError shows a page with a message.
func (s *Simulator) pageError(w http.ResponseWriter, httpStatus int, message string) {
	s.render(w, httpStatus, "error.html", struct{ Message string }{message})
}

func (s *Simulator) render(w http.ResponseWriter, httpStatus int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error().Err(err).Str(fieldPath, name).Msg("rapydsim: render page")
		http.Error(w, "The Rapyd sandbox could not show this page.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	simkit.SetPageHeaders(h, s.policy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(httpStatus)
	_, _ = w.Write(buf.Bytes())
}

// validPhone accepts 9 to 15 digits, optionally with a leading + and
// spaces or dashes between them.
func validPhone(s string) bool {
	s = strings.TrimPrefix(s, "+")
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '-':
		default:
			return false
		}
	}
	return digits >= 9 && digits <= 15
}

// formatAmount formats money for the hosted pages: won as ₩15,000, other
// currencies as 1,234.50 EUR.
func formatAmount(m paygate.Money) string {
	if m.Currency != paygate.KRW {
		return m.Display()
	}
	return simkit.Won(m.Minor)
}
