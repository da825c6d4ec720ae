package checkout

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/server"
)

// The buyer's checkout pages: server-rendered HTML that works without
// JavaScript (the pages carry none, and their Content-Security-Policy
// forbids it).
//
//	GET  /checkout/{P}?t=TOKEN          the order, its methods, the QR code or voucher, the result
//	POST /checkout/{P}/attempts         start paying with a method (form: t, csrf, method, payer)
//	GET  /checkout/{P}/return?t=TOKEN   where a gateway sends the buyer back
//
// A missing or wrong token, an unknown and a malformed P-number all get the
// same 404 page, so P-numbers cannot be enumerated. Forms are protected by
// a double-submit token: a random cookie set with the page, and a hidden
// field holding the service's HMAC of the P-number and that cookie; a POST
// from another origin (Origin or Sec-Fetch-Site) is refused as well.
//
// Redirect methods do not answer the form's POST with a redirect to the
// gateway: browsers check a form-action policy against every redirect that
// follows a form submission, so form-action 'self' would block it (Chromium
// does). The POST redirects to our own page instead, which sends the buyer on
// with a meta refresh (and a link), like any other navigation.

//go:embed templates/*.html templates/page.css
var pageFiles embed.FS

// Query parameters and form fields of the pages.
const (
	paramToken  = "t"      // the checkout token, in the URL and the forms
	paramCSRF   = "csrf"   // the double-submit token, in the forms
	paramMethod = "method" // the chosen method, in the forms
	paramChange = "change" // "1": show the methods although an attempt is open
	paramGo     = "go"     // "1": send the buyer on to the open attempt's gateway
)

// csrfCookie names the cookie of the double-submit token.
const csrfCookie = "paygate_csrf"

// pageRefresh is how often a page waiting for a payment reloads itself, in
// seconds.
const pageRefresh = 3

// fieldReason is the log field that says why a form was refused.
const fieldReason = "reason"

// pages renders the checkout pages of a Service.
type pages struct {
	s         *Service
	tpl       *template.Template
	css       template.CSS
	styleHash string // the CSP hash of the inline style sheet
	origin    string // the origin of the service's public URL
	secure    bool   // the public URL is https: cookies are Secure
}

func newPages(s *Service) (*pages, error) {
	css, err := pageFiles.ReadFile("templates/page.css")
	if err != nil {
		return nil, fmt.Errorf("checkout: page style: %w", err)
	}
	tpl, err := template.New("pages").Funcs(template.FuncMap{
		"money": func(m paygate.Money) string { return m.Display() },
	}).ParseFS(pageFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("checkout: page templates: %w", err)
	}
	sum := sha256.Sum256(css)
	p := &pages{s: s, tpl: tpl, css: template.CSS(css),
		styleHash: "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"}
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Host != "" {
		p.origin = u.Scheme + "://" + u.Host
		p.secure = u.Scheme == "https"
	}
	return p, nil
}

// PageRoutes registers the buyer's checkout pages: GET /checkout/{P}, POST
// /checkout/{P}/attempts and GET /checkout/{P}/return. They need no API key:
// the signed token in the link (Token) is the buyer's key to one order. It
// panics if the embedded templates do not parse, which the tests catch.
func (s *Service) PageRoutes(r *mux.Router) {
	p, err := newPages(s)
	if err != nil {
		panic(err) // the templates are embedded at build time
	}
	r.HandleFunc("/checkout/{number}", p.handleShow).Methods(http.MethodGet)
	r.HandleFunc("/checkout/{number}/attempts", p.handleAttempt).Methods(http.MethodPost)
	r.HandleFunc("/checkout/{number}/return", p.handleReturn).Methods(http.MethodGet)
}

// view is what a page template is given.
type view struct {
	Title   string
	CSS     template.CSS
	Refresh int    // seconds; 0: the page does not reload itself
	GoURL   string // a gateway to send the buyer on to at once
	Sandbox bool

	// State says which part of the page to show:
	//   checkout: paid, closed, redirecting, waiting, choose;
	//   return:   paid, closed, waiting, failed, unpaid.
	State   string
	Message string // the headline of a message page
	Detail  string
	Error   string // what went wrong with the buyer's last form, shown above it

	Order       orderView
	Attempt     *attemptView // the open attempt, or the failed one
	Methods     []methodView
	Form        payerForm
	Token       string
	CSRF        string
	PageURL     string // the checkout page
	ChangeURL   string // the checkout page with the methods shown
	AttemptsURL string // where the forms post to
	ShopURL     string // the order's return_url, if any
}

type orderView struct {
	Number      string
	Status      string // what the buyer reads: "Awaiting payment"
	Total       paygate.Money
	Items       []itemView
	ExpiresAt   string
	HasAttempts bool
}

type itemView struct {
	Number      string
	Description string
	Amount      paygate.Money
}

type attemptView struct {
	Label         string // the method's label: "iDEAL"
	Method        string
	Status        AttemptStatus
	Type          providers.ActionType
	URL           string // redirect: the gateway; qr: the bank app; voucher: the voucher page
	QRImageURL    string
	QRData        string
	VoucherNumber string
	ExpiresAt     string
	// Why is a sentence for the buyer about an attempt that ended without
	// paying; the provider's own text (failure_reason in the API) is for
	// developers and stays off the page.
	Why        string
	Processing bool
}

type methodView struct {
	Method     string
	Label      string
	NeedsPayer bool
	Action     providers.ActionType
}

// payerForm is Boleto's form, refilled after an error.
type payerForm struct {
	Name, Email, TaxID, Line1, City, State, PostalCode string
}

// States lists the federative units of Brazil, for the address's select.
func (payerForm) States() []string {
	return []string{"AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG",
		"PA", "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO"}
}

// headers sets the security headers of every page. imgOrigins are origins
// besides ours that the page shows images from (a provider's QR code).
func (p *pages) headers(w http.ResponseWriter, imgOrigins ...string) {
	img := "'self'"
	for _, o := range imgOrigins {
		if o != "" && o != p.origin {
			img += " " + o
		}
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; "+
		"frame-ancestors 'none'; form-action 'self'; img-src "+img+"; style-src "+p.styleHash)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer") // the token is in the URL
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// render writes a page. A template error is a bug; it becomes a plain 500.
func (p *pages) render(w http.ResponseWriter, r *http.Request, status int, name string, v view, imgOrigins ...string) {
	v.CSS, v.Sandbox = p.css, p.s.cfg.Sandbox
	var b bytes.Buffer
	if err := p.tpl.ExecuteTemplate(&b, name, v); err != nil {
		l := server.Logger(r.Context())
		l.Error().Err(err).Str("template", name).Msg("render checkout page")
		p.headers(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "internal error\n")
		return
	}
	p.headers(w, imgOrigins...)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// notFound answers every bad link the same way, whatever was wrong with it.
func (p *pages) notFound(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusNotFound, "message.html", view{Title: "Page not found", Message: "Page not found",
		Detail: "This checkout link is not valid. Check the link the shop gave you, or ask the shop for a new one."})
}

// failed answers an unexpected error: a 5xx page, the cause logged once.
func (p *pages) failed(w http.ResponseWriter, r *http.Request, err error) {
	status := server.ErrorStatus(err)
	if status < http.StatusInternalServerError {
		status = http.StatusInternalServerError
	}
	l := server.Logger(r.Context())
	l.Error().Err(err).Int(server.FieldStatus, status).Msg("checkout page failed")
	p.render(w, r, status, "message.html", view{Title: "Something went wrong", Message: "Something went wrong",
		Detail: "We could not show this page. Please try again in a moment."})
}

// order reads the order of a page's link: the P-number of the path and the
// token. Anything wrong is the same 404 page; ok is false once it is
// written.
func (p *pages) order(w http.ResponseWriter, r *http.Request, token string) (PaymentOrder, bool) {
	n, err := paygate.ParsePaymentOrderNumber(mux.Vars(r)["number"])
	if err != nil || !p.s.ValidToken(n, token) {
		p.notFound(w, r)
		return PaymentOrder{}, false
	}
	po, err := p.s.Get(r.Context(), n)
	switch {
	case paygate.ErrorCode(err) == paygate.ENOTFOUND:
		p.notFound(w, r)
		return PaymentOrder{}, false
	case err != nil:
		p.failed(w, r, err)
		return PaymentOrder{}, false
	}
	return po, true
}

// baseView fills what every page of an order shows.
func (p *pages) baseView(po PaymentOrder, now time.Time) view {
	tok := p.s.Token(po.Number)
	page := "/checkout/" + string(po.Number) + "?" + paramToken + "=" + url.QueryEscape(tok)
	v := view{
		Title: "Pay order " + string(po.Number), Token: tok,
		PageURL: page, ChangeURL: page + "&" + paramChange + "=1",
		AttemptsURL: "/checkout/" + string(po.Number) + "/attempts",
		ShopURL:     p.shopURL(po.ReturnURL),
		Order: orderView{
			Number: string(po.Number), Status: statusLabel(po, now), Total: po.Amount,
			ExpiresAt: formatTime(po.ExpiresAt, po.Amount.Currency), HasAttempts: len(po.Attempts) > 0,
		},
	}
	for _, it := range po.Items {
		v.Order.Items = append(v.Order.Items, itemView{Number: string(it.Number), Description: it.Description, Amount: it.Amount})
	}
	return v
}

// expired reports whether the order can no longer be paid because its time
// is up, although no sweep has marked it yet.
func expired(po PaymentOrder, now time.Time) bool {
	return po.Status == Expired || (!po.Status.Final() && !now.Before(po.ExpiresAt))
}

func statusLabel(po PaymentOrder, now time.Time) string {
	switch {
	case po.Status == Paid:
		return "Paid"
	case po.Status == Canceled:
		return "Canceled"
	case expired(po, now):
		return "Expired"
	case po.Status == Pending:
		return "Payment in progress"
	case po.Status == Failed:
		return "Payment failed — please try again"
	}
	return "Awaiting payment"
}

// buyerReason says, in a sentence for the buyer, why an attempt ended
// without paying: declined, expired, canceled, or the provider could not be
// reached when it started ("" for an attempt still open or paid).
func buyerReason(a Attempt, label string) string {
	switch a.Status {
	case AttemptFailed:
		if a.ProviderRef == "" {
			return label + " could not be reached just now."
		}
		return "The payment was declined or could not be completed at " + label + "."
	case AttemptExpired:
		return "The time to complete the payment ran out."
	case AttemptCanceled:
		return "The payment was canceled before it was completed."
	}
	return ""
}

// latest returns the order's newest attempt, if any.
func latest(po PaymentOrder) (Attempt, bool) {
	if len(po.Attempts) == 0 {
		return Attempt{}, false
	}
	return po.Attempts[len(po.Attempts)-1], true
}

// attemptView shows an attempt. Its code or voucher is shown payable until
// the order expires at the latest: a boleto can outlive the order, and what
// is paid after that only reaches the buyer's balance.
func (p *pages) attemptView(a Attempt, po PaymentOrder) *attemptView {
	cur := po.Amount.Currency
	mi, _ := providers.Lookup(a.Method)
	v := &attemptView{Label: mi.Label, Method: string(a.Method), Status: a.Status, Type: a.NextAction.Type,
		Why: buyerReason(a, mi.Label), Processing: a.Status == AttemptProcessing}
	if v.Label == "" {
		v.Label = string(a.Method)
	}
	if a.Status.open() {
		na := a.NextAction
		v.URL, v.QRImageURL, v.QRData, v.VoucherNumber = httpURL(na.URL), httpURL(na.QRImageURL), na.QRData, formatBoletoLine(na.VoucherNumber)
		if exp := na.ExpiresAt; !exp.IsZero() {
			if exp.After(po.ExpiresAt) {
				exp = po.ExpiresAt
			}
			v.ExpiresAt = formatTime(exp, cur)
		}
	}
	return v
}

// methods lists the methods of the order's currency whose provider is
// configured, and the buyer's balance when it covers the order.
func (p *pages) methods(ctx context.Context, po PaymentOrder) []methodView {
	var out []methodView
	for _, mi := range providers.MethodsFor(po.Amount.Currency) {
		if !p.s.offered(mi) {
			continue
		}
		out = append(out, methodView{Method: string(mi.Method), Label: mi.Label, NeedsPayer: mi.NeedsPayer, Action: mi.Action})
	}
	if p.s.CanPayWithBalance(ctx, po) {
		out = append(out, methodView{Method: string(MethodBalance), Label: "Your balance", Action: providers.ActionNone})
	}
	return out
}

// checkoutView builds the checkout page of an order. change shows the
// methods although an attempt is open; goOn sends the buyer on to the open
// attempt's gateway.
func (p *pages) checkoutView(ctx context.Context, po PaymentOrder, now time.Time, change, goOn bool) view {
	v := p.baseView(po, now)
	a, hasAttempt := latest(po)
	switch {
	case po.Status == Paid:
		v.State, v.Title = "paid", "Payment received"
		return v
	case po.Status == Canceled:
		v.State, v.Message, v.Detail = "closed", "This order was canceled", "It can no longer be paid. If you still want the items, please order again at the shop."
		v.Title = v.Message
		return v
	case expired(po, now):
		v.State, v.Message, v.Detail = "closed", "This order has expired", "It can no longer be paid. If you still want the items, please order again at the shop."
		v.Title = v.Message
		return v
	}
	if hasAttempt {
		v.Attempt = p.attemptView(a, po)
	}
	if hasAttempt && a.Status.open() && (!change || a.Status == AttemptProcessing) {
		v.State, v.Refresh = "waiting", pageRefresh
		if goOn && a.Status == AttemptPending && a.NextAction.Type == providers.ActionRedirect && v.Attempt.URL != "" {
			v.State, v.Refresh, v.GoURL = "redirecting", 0, v.Attempt.URL
		}
		return v
	}
	v.State, v.Methods = "choose", p.methods(ctx, po)
	return v
}

// returnView builds the return page: the order's state in our database,
// whatever the gateway appended to the URL.
func (p *pages) returnView(po PaymentOrder, now time.Time) view {
	v := p.baseView(po, now)
	a, hasAttempt := latest(po)
	if hasAttempt {
		v.Attempt = p.attemptView(a, po)
	}
	switch {
	case po.Status == Paid:
		v.State, v.Title = "paid", "Payment received"
	case po.Status == Canceled:
		v.State, v.Message, v.Detail = "closed", "This order was canceled", "It can no longer be paid."
		v.Title = v.Message
	case expired(po, now):
		v.State, v.Message, v.Detail = "closed", "This order has expired", "It can no longer be paid."
		v.Title = v.Message
	case hasAttempt && a.Status.open():
		v.State, v.Title, v.Refresh = "waiting", "Waiting for confirmation", pageRefresh
	case hasAttempt:
		v.State, v.Title = "failed", "Payment failed"
	default:
		v.State, v.Title = "unpaid", "Not paid yet"
	}
	return v
}

func (p *pages) handleShow(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	po, ok := p.order(w, r, q.Get(paramToken))
	if !ok {
		return
	}
	v := p.checkoutView(r.Context(), po, p.s.cfg.DB.Now(), q.Get(paramChange) == "1", q.Get(paramGo) == "1")
	if v.State == "choose" {
		cookie, err := p.csrfCookie(w, r)
		if err != nil {
			p.failed(w, r, err)
			return
		}
		v.CSRF = p.csrfToken(po.Number, cookie)
	}
	p.render(w, r, http.StatusOK, "checkout.html", v, imageOrigin(v.Attempt))
}

func (p *pages) handleReturn(w http.ResponseWriter, r *http.Request) {
	po, ok := p.order(w, r, r.URL.Query().Get(paramToken))
	if !ok {
		return
	}
	p.render(w, r, http.StatusOK, "return.html", p.returnView(po, p.s.cfg.DB.Now()))
}

func (p *pages) handleAttempt(w http.ResponseWriter, r *http.Request) {
	l := server.Logger(r.Context())
	if err := r.ParseForm(); err != nil {
		p.render(w, r, http.StatusBadRequest, "message.html", view{Title: "Bad request", Message: "Bad request",
			Detail: "The form could not be read. Please go back and try again."})
		return
	}
	n, err := paygate.ParsePaymentOrderNumber(mux.Vars(r)["number"])
	if err != nil || !p.s.ValidToken(n, r.PostForm.Get(paramToken)) {
		l.Info().Str(fieldReason, "bad checkout token").Msg("checkout form refused")
		p.forbidden(w, r, "")
		return
	}
	if reason := p.checkCSRF(r, n); reason != "" {
		l.Info().Str(FieldPaymentOrder, string(n)).Str(fieldReason, reason).Msg("checkout form refused")
		p.forbidden(w, r, n)
		return
	}
	f := r.PostForm
	method := providers.Method(f.Get(paramMethod))
	form := payerForm{Name: f.Get("name"), Email: f.Get("email"), TaxID: f.Get("tax_id"), Line1: f.Get("line1"),
		City: f.Get("city"), State: f.Get("state"), PostalCode: f.Get("postal_code")}
	payer := providers.Payer{Name: form.Name, Email: form.Email, TaxID: form.TaxID, Address: providers.Address{
		Line1: form.Line1, City: form.City, State: form.State, PostalCode: form.PostalCode}}

	a, err := p.s.StartAttempt(r.Context(), n, method, payer)
	if err != nil {
		p.attemptFailed(w, r, n, err, form)
		return
	}
	next := p.s.CheckoutURL(n)
	if a.Status.open() && a.NextAction.Type == providers.ActionRedirect && httpURL(a.NextAction.URL) != "" {
		next += "&" + paramGo + "=1"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// attemptFailed shows the checkout page again with what StartAttempt said:
// a form error (400), a conflict such as an order paid meanwhile (409), a
// provider that is down (503).
func (p *pages) attemptFailed(w http.ResponseWriter, r *http.Request, n paygate.PaymentOrderNumber, cause error, form payerForm) {
	status := server.ErrorStatus(cause)
	if status >= http.StatusInternalServerError && status != http.StatusServiceUnavailable {
		p.failed(w, r, cause)
		return
	}
	po, err := p.s.Get(r.Context(), n)
	switch {
	case paygate.ErrorCode(err) == paygate.ENOTFOUND:
		p.notFound(w, r)
		return
	case err != nil:
		p.failed(w, r, errors.Join(cause, err))
		return
	}
	v := p.checkoutView(r.Context(), po, p.s.cfg.DB.Now(), true, false)
	if v.State == "choose" {
		cookie, err := p.csrfCookie(w, r)
		if err != nil {
			p.failed(w, r, err)
			return
		}
		v.CSRF = p.csrfToken(n, cookie)
	}
	v.Error, v.Form, v.Refresh = paygate.ErrorMessage(cause), form, 0
	p.render(w, r, status, "checkout.html", v, imageOrigin(v.Attempt))
}

// forbidden answers a refused form; with the order's number (its token was
// valid) it links back to the checkout page.
func (p *pages) forbidden(w http.ResponseWriter, r *http.Request, n paygate.PaymentOrderNumber) {
	v := view{Title: "Request refused", Message: "Request refused",
		Detail: "This form could not be accepted: it was sent from another site, or it is out of date."}
	if n != "" {
		v.PageURL = "/checkout/" + string(n) + "?" + paramToken + "=" + url.QueryEscape(p.s.Token(n))
		v.Detail += " Please open the checkout page again and retry."
	}
	p.render(w, r, http.StatusForbidden, "message.html", v)
}

// csrfCookie returns the browser's double-submit cookie, setting a new one
// if it has none (or a malformed one).
func (p *pages) csrfCookie(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(csrfCookie); err == nil && validCSRFCookie(c.Value) {
		return c.Value, nil
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(p.s.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("checkout: csrf cookie: %w", err)
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/checkout/", HttpOnly: true,
		Secure: p.secure, SameSite: http.SameSiteLaxMode})
	return v, nil
}

func validCSRFCookie(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// csrfToken is the hidden form field that goes with the cookie: only the
// service can make it, and it is bound to one order.
func (p *pages) csrfToken(n paygate.PaymentOrderNumber, cookie string) string {
	return p.s.sign("csrf|" + string(n) + "|" + cookie)
}

// checkCSRF returns why a form POST must be refused, or "". The browser's
// Sec-Fetch-Site and Origin headers must not name another origin (Origin is
// "null" on our own forms, whose pages send no referrer), and the form's
// token must match the cookie.
func (p *pages) checkCSRF(r *http.Request, n paygate.PaymentOrderNumber) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "cross-site request (Sec-Fetch-Site " + clip(site) + ")"
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !strings.EqualFold(o, p.origin) {
		return "foreign origin"
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validCSRFCookie(c.Value) {
		return "no csrf cookie"
	}
	if !hmac.Equal([]byte(r.PostForm.Get(paramCSRF)), []byte(p.csrfToken(n, c.Value))) {
		return "csrf token mismatch"
	}
	return ""
}

// httpURL returns raw if it is an absolute http(s) URL, else "": only such
// links are put on a page.
func httpURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return ""
	}
	return raw
}

// shopURL returns the order's return_url for the page's "Back to the shop"
// link if it is still on the allow-list, else "": an order keeps the
// return_url it was created with, and a host taken off the list since (or a
// row written around the API) gets no link.
func (p *pages) shopURL(raw string) string {
	if raw == "" || p.s.checkReturnURL(raw) != nil {
		return ""
	}
	return httpURL(raw)
}

// imageOrigin is the origin of an attempt's QR image, for the page's
// Content-Security-Policy.
func imageOrigin(a *attemptView) string {
	if a == nil || a.QRImageURL == "" {
		return ""
	}
	u, err := url.Parse(a.QRImageURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// formatBoletoLine groups a boleto's 47-digit digitable line as vouchers
// print it (AAAAA.AAAAA BBBBB.BBBBBB CCCCC.CCCCCC D EEEEEEEEEEEEEE), so a
// buyer can compare it with their banking app; anything else is shown as
// given.
func formatBoletoLine(n string) string {
	if len(n) != 47 || !digits(n) {
		return n
	}
	return n[0:5] + "." + n[5:10] + " " + n[10:15] + "." + n[15:21] + " " + n[21:26] + "." + n[26:32] + " " + n[32:33] + " " + n[33:47]
}

// zoneOf is the time zone a method's buyers read times in: Singapore for
// SGD, São Paulo for BRL, Seoul for KRW (none has daylight saving time),
// UTC otherwise.
func zoneOf(c paygate.Currency) *time.Location {
	switch c {
	case paygate.SGD:
		return time.FixedZone("SGT", 8*60*60)
	case paygate.BRL:
		return time.FixedZone("BRT", -3*60*60)
	case paygate.KRW:
		return time.FixedZone("KST", 9*60*60)
	}
	return time.UTC
}

func formatTime(t time.Time, c paygate.Currency) string {
	return t.In(zoneOf(c)).Format("2 Jan 2006, 15:04 MST")
}

// digits reports whether s is a non-empty string of ASCII digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
