package stripesim

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers/simkit"
	"github.com/paygate/paygate/taxid"
)

//go:embed templates/*.html
var templateFS embed.FS

// parsePages parses the embedded page templates. They are part of the
// binary, so a parse error is a bug caught by any test.
func parsePages() *template.Template {
	return template.Must(template.New("pages").ParseFS(templateFS, "templates/*.html"))
}

// pagePolicy is the pages' Content-Security-Policy: their inline style by
// its hash, images (the PayNow QR code) from the simulator only, no script.
// The layout is part of the binary, so an error is a bug caught by any test.
func pagePolicy() string {
	p, err := simkit.PagePolicy(templateFS, "templates/layout.html")
	if err != nil {
		panic(err)
	}
	return p
}

// crossSite refuses a form POST that a browser says comes from another
// site, with a 403 page, and reports whether it did.
func (s *Simulator) crossSite(w http.ResponseWriter, r *http.Request) bool {
	why := simkit.CrossSite(r, s.cfg.BaseURL)
	if why == "" {
		return false
	}
	s.log.Warn().Str(fieldPaymentIntent, r.PathValue("id")).Str(fieldReason, why).Msg("stripesim: cross-site form refused")
	s.render(w, http.StatusForbidden, "done.html", pageData{Title: "Request refused", ID: r.PathValue("id"),
		Message: "This form was sent from another site. Nothing was paid. Open the payment page again."})
	return true
}

// routePages adds the buyer's pages to mux.
func (s *Simulator) routePages(mux *http.ServeMux) {
	mux.HandleFunc("GET /ideal/{id}", s.idealPage)
	mux.HandleFunc("POST /ideal/{id}/{action}", s.idealAction)
	mux.HandleFunc("GET /wallet/{id}", s.walletPage)
	mux.HandleFunc("POST /wallet/{id}/{action}", s.walletAction)
	mux.HandleFunc("GET /paynow/{id}", s.payNowPage)
	mux.HandleFunc("POST /paynow/{id}/{action}", s.payNowAction)
	mux.HandleFunc("GET /qr/{file}", s.qrImage)
	mux.HandleFunc("GET /boleto/{id}", s.boletoPage)
	mux.HandleFunc("GET /boleto/{id}/voucher.pdf", s.boletoPDF)
	mux.HandleFunc("POST /boleto/{id}/pay", s.boletoPay)
}

type bankOption struct {
	Value, Label string
	Selected     bool
}

// pageData is what the templates show.
type pageData struct {
	Title           string
	ID              string
	Merchant        string
	Amount          string
	Description     string
	Status          string
	Notice          string
	Banks           []bankOption
	Reference       string
	Expires         string
	NumberFormatted string
	Payer           string
	TaxID           string
	Message         string
	Link, LinkLabel string
}

func bankLabel(b string) string {
	switch b {
	case "abn_amro":
		return "ABN AMRO"
	case "asn_bank":
		return "ASN Bank"
	case "bunq":
		return "bunq"
	case "handelsbanken":
		return "Handelsbanken"
	case "ing":
		return "ING"
	case "knab":
		return "Knab"
	case "moneyou":
		return "Moneyou"
	case "n26":
		return "N26"
	case "nn":
		return "Nationale-Nederlanden"
	case "rabobank":
		return "Rabobank"
	case "regiobank":
		return "RegioBank"
	case "revolut":
		return "Revolut"
	case "sns_bank":
		return "SNS"
	case "triodos_bank":
		return "Triodos Bank"
	case "van_lanschot":
		return "Van Lanschot"
	case "yoursafe":
		return "Yoursafe"
	}
	return b
}

// formatAmount shows an amount to a buyer.
func formatAmount(cents int64, currency string) string {
	m := paygate.New(cents, paygate.Currency(strings.ToUpper(currency)))
	switch m.Currency {
	case paygate.EUR:
		return "€" + m.Amount()
	case paygate.SGD:
		return "S$" + m.Amount()
	case paygate.BRL:
		return formatBRL(cents)
	case paygate.KRW:
		return simkit.Won(cents)
	}
	return m.Amount() + " " + string(m.Currency)
}

// lookupPage returns a copy of the intent id if its last action is of type
// actionType.
func (s *Simulator) lookupPage(id, actionType string) (intent, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pi := s.intents[id]
	if pi == nil || pi.Last == nil || pi.Last.Type != actionType {
		return intent{}, false
	}
	cp := *pi
	last := *pi.Last
	cp.Last = &last
	if pi.Method != nil {
		m := *pi.Method
		cp.Method = &m
	}
	if pi.LastMethod != nil {
		m := *pi.LastMethod
		cp.LastMethod = &m
	}
	return cp, true
}

func (s *Simulator) basePage(pi intent, title string) pageData {
	d := pageData{
		Title: title, ID: pi.ID, Merchant: s.cfg.PayNowMerchant,
		Amount: formatAmount(pi.Amount, pi.Currency), Description: pi.Description,
		Status: strings.ReplaceAll(pi.Status, "_", " "),
	}
	switch pi.Status {
	case statusSucceeded:
		d.Notice = "This payment has already succeeded. In the sandbox you may still press the buttons (to test a late or repeated bank notification)."
	case statusCanceled:
		d.Notice = "This payment was canceled by the merchant. In the sandbox you may still approve it (to test a late payment)."
	case statusRequiresPaymentMethod:
		d.Notice = "This payment attempt is no longer pending. In the sandbox you may still approve it (to test a late payment)."
	}
	return d
}

func (s *Simulator) render(w http.ResponseWriter, status int, name string, d pageData) {
	var b bytes.Buffer
	if err := s.pages.ExecuteTemplate(&b, name, d); err != nil {
		s.log.Error().Err(err).Str(fieldPaymentIntent, d.ID).Msg("stripesim: render page")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	simkit.SetPageHeaders(h, s.policy)
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (s *Simulator) notFoundPage(w http.ResponseWriter, id string) {
	s.render(w, http.StatusNotFound, "done.html", pageData{
		Title: "Payment not found", ID: id,
		Message: "The sandbox has no such payment for this page. Payments live in memory and are lost when paygate restarts.",
	})
}

func (s *Simulator) idealPage(w http.ResponseWriter, r *http.Request) {
	pi, ok := s.lookupPage(r.PathValue("id"), "redirect_to_url")
	if !ok {
		s.notFoundPage(w, r.PathValue("id"))
		return
	}
	d := s.basePage(pi, "iDEAL")
	chosen := ""
	if pi.LastMethod != nil {
		chosen = pi.LastMethod.Bank
	}
	for _, b := range idealBanks() {
		d.Banks = append(d.Banks, bankOption{Value: b, Label: bankLabel(b), Selected: b == chosen})
	}
	if chosen == "" && len(d.Banks) > 0 {
		d.Banks[0].Selected = true
	}
	s.render(w, http.StatusOK, "ideal.html", d)
}

// outcomeOf maps a page action to an outcome.
func outcomeOf(action string) (outcome, bool) {
	switch action {
	case "approve":
		return outcomeApprove, true
	case "decline":
		return outcomeDecline, true
	}
	return 0, false
}

func (s *Simulator) idealAction(w http.ResponseWriter, r *http.Request) {
	if s.crossSite(w, r) {
		return
	}
	id := r.PathValue("id")
	o, ok := outcomeOf(r.PathValue("action"))
	if _, found := s.lookupPage(id, "redirect_to_url"); !ok || !found {
		s.notFoundPage(w, id)
		return
	}
	bank := ""
	if err := r.ParseForm(); err == nil && idealBIC(r.PostForm.Get("bank")) != "" {
		bank = r.PostForm.Get("bank")
	}
	s.finishRedirect(w, r, id, o, bank)
}

// finishRedirect settles a redirect payment from its page and sends the
// buyer back to the return URL with Stripe's parameters.
func (s *Simulator) finishRedirect(w http.ResponseWriter, r *http.Request, id string, o outcome, bank string) {
	pi, err := s.settle(r.Context(), id, o, bank)
	if err != nil {
		s.settleError(w, id, err)
		return
	}
	status := "succeeded"
	if o != outcomeApprove {
		status = "failed"
	}
	if pi.ReturnURL == "" {
		s.render(w, http.StatusOK, "done.html", pageData{Title: "Payment " + status, ID: id, Amount: formatAmount(pi.Amount, pi.Currency),
			Message: "The payment has no return URL; you can close this page."})
		return
	}
	http.Redirect(w, r, returnURL(pi.ReturnURL, pi.ID, pi.ClientSecret, status), http.StatusSeeOther)
}

// returnURL adds Stripe's redirect parameters to the merchant's return URL,
// keeping its own query and fragment.
func returnURL(base, id, secret, status string) string {
	u, err := url.Parse(base)
	if err != nil { // validated at confirmation
		return base
	}
	// Stripe's parameters, in Stripe's order, after the merchant's own.
	q := "payment_intent=" + url.QueryEscape(id) +
		"&payment_intent_client_secret=" + url.QueryEscape(secret) +
		"&redirect_status=" + url.QueryEscape(status)
	if u.RawQuery != "" {
		u.RawQuery += "&" + q
	} else {
		u.RawQuery = q
	}
	return u.String()
}

func (s *Simulator) settleError(w http.ResponseWriter, id string, err error) {
	if paygate.ErrorCode(err) == paygate.ENOTFOUND {
		s.notFoundPage(w, id)
		return
	}
	s.log.Error().Err(err).Str(fieldPaymentIntent, id).Msg("stripesim: settle from page")
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func (s *Simulator) payNowPage(w http.ResponseWriter, r *http.Request) {
	pi, ok := s.lookupPage(r.PathValue("id"), "paynow_display_qr_code")
	if !ok {
		s.notFoundPage(w, r.PathValue("id"))
		return
	}
	d := s.basePage(pi, "PayNow")
	d.Reference = pi.Last.QRReference
	d.Expires = time.Unix(pi.Last.QRExpiresAt, 0).In(simkit.Singapore()).Format("2 Jan 2006 15:04 SGT")
	s.render(w, http.StatusOK, "paynow.html", d)
}

func (s *Simulator) payNowAction(w http.ResponseWriter, r *http.Request) {
	if s.crossSite(w, r) {
		return
	}
	id := r.PathValue("id")
	o, ok := outcomeOf(r.PathValue("action"))
	if _, found := s.lookupPage(id, "paynow_display_qr_code"); !ok || !found {
		s.notFoundPage(w, id)
		return
	}
	pi, err := s.settle(r.Context(), id, o, "")
	if err != nil {
		s.settleError(w, id, err)
		return
	}
	d := pageData{Title: "Payment sent", ID: id, Amount: formatAmount(pi.Amount, pi.Currency),
		Message: "Your bank app paid " + s.cfg.PayNowMerchant + ". You can close this page and return to the merchant's page."}
	if o != outcomeApprove {
		d.Title = "Payment declined"
		d.Message = "Your bank app declined the payment. Nothing was paid."
	}
	s.render(w, http.StatusOK, "done.html", d)
}

func (s *Simulator) qrImage(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	id, ext, _ := strings.Cut(file, ".")
	pi, ok := s.lookupPage(id, "paynow_display_qr_code")
	if !ok || (ext != "png" && ext != "svg") {
		http.NotFound(w, r)
		return
	}
	var (
		img  []byte
		err  error
		ctyp = "image/png"
	)
	if ext == "png" {
		img, err = qrPNG(pi.Last.QRData)
	} else {
		img, err = qrSVG(pi.Last.QRData)
		ctyp = "image/svg+xml"
	}
	if err != nil {
		s.log.Error().Err(err).Str(fieldPaymentIntent, id).Msg("stripesim: render qr")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctyp)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(img)
}

func (s *Simulator) boletoData(pi intent) pageData {
	d := s.basePage(pi, "Boleto")
	d.NumberFormatted = simkit.FormatBoletoLine(pi.Last.Number)
	d.Expires = time.Unix(pi.Last.ExpiresAt, 0).In(simkit.Brasilia()).Format("02/01/2006")
	if pm := pi.LastMethod; pm != nil {
		d.Payer = pm.Name
		d.TaxID = taxid.Mask(pm.TaxID)
	}
	return d
}

func (s *Simulator) boletoPage(w http.ResponseWriter, r *http.Request) {
	pi, ok := s.lookupPage(r.PathValue("id"), "boleto_display_details")
	if !ok {
		s.notFoundPage(w, r.PathValue("id"))
		return
	}
	s.render(w, http.StatusOK, "boleto.html", s.boletoData(pi))
}

func (s *Simulator) boletoPDF(w http.ResponseWriter, r *http.Request) {
	pi, ok := s.lookupPage(r.PathValue("id"), "boleto_display_details")
	if !ok {
		http.NotFound(w, r)
		return
	}
	d := s.boletoData(pi)
	pdf := simplePDF([]string{
		"Boleto bancario - Stripe sandbox (not payable)",
		"",
		"Linha digitavel: " + d.NumberFormatted,
		"Valor: " + strings.ReplaceAll(d.Amount, "\u00a0", " "),
		"Vencimento: " + d.Expires,
		"Beneficiario: " + d.Merchant,
		"Pagador: " + d.Payer + " " + d.TaxID,
		"Referencia: " + pi.ID,
	})
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", `inline; filename="boleto-`+pi.ID+`.pdf"`)
	_, _ = w.Write(pdf)
}

func (s *Simulator) boletoPay(w http.ResponseWriter, r *http.Request) {
	if s.crossSite(w, r) {
		return
	}
	id := r.PathValue("id")
	if _, found := s.lookupPage(id, "boleto_display_details"); !found {
		s.notFoundPage(w, id)
		return
	}
	pi, err := s.settle(r.Context(), id, outcomeApprove, "")
	if err != nil {
		s.settleError(w, id, err)
		return
	}
	s.render(w, http.StatusOK, "done.html", pageData{Title: "Boleto paid", ID: id, Amount: formatAmount(pi.Amount, pi.Currency),
		Message: "The bank accepted the payment of this boleto. The merchant is notified."})
}
