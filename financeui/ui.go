// Package financeui is the finance staff's pages: server-rendered HTML
// without JavaScript, behind a login with the finance key.
//
//	GET  /finance/login                   the login form
//	POST /finance/login                   check the finance key, set the session cookie
//	POST /finance/logout                  end the session
//	GET  /finance/                        dashboard: settled volume per method per day
//	GET  /finance/trial-balance           the ledger's trial balance
//	GET  /finance/escrow                  escrow by sales order status
//	GET  /finance/items                   open finance items with their audit trail
//	POST /finance/items/{id}/resolve      mark an item resolved, with a reason
//	POST /finance/items/{id}/resolve-dispute  resolve a disputed sales order of the item's payment order
//	POST /finance/items/{id}/settle       settle a lost payment from its provider's status
//	POST /finance/items/{id}/refund       refund the buyer's balance to the payment's source
//	POST /finance/items/{id}/payout       record a manual bank payout of the buyer's balance
//	GET  /finance/reconciliations         reconciliation runs, newest first
//	GET  /finance/reconciliations/{id}    one run with its unmatched lines
//	GET  /finance/webhooks                the webhook endpoints' health and recent deliveries
//
// The session cookie holds an HMAC-signed, expiring token, never the key.
// Logging out ends the session on the server too (table
// finance_session_ends), so a copy of the cookie stops working. Every page
// but the login redirects (303) to the login without a valid session. Forms are protected by a double-submit token (a random cookie and
// its HMAC in a hidden field), SameSite=Strict cookies and an Origin and
// Sec-Fetch-Site check.
package financeui

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/checkout"
	"github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/recon"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/storage"
)

//go:embed templates/*.html templates/ui.css
var files embed.FS

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema (the sessions ended by logging
// out), for storage.Open.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "financeui", FS: migrationFiles, Dir: "migrations"}
}

// Cookie and form field names.
const (
	sessionCookie = "paygate_finance_session"
	csrfCookie    = "paygate_finance_csrf"
	fieldCSRF     = "csrf"
	fieldKey      = "key"
	fieldActor    = "actor" // who signs in: a name or email, for the audit log
	cookiePath    = "/finance/"
	fieldReason   = "reason" // the log field that says why a login was refused
	loginPath     = "/finance/login"
)

// SessionTTL is how long a login lasts.
const SessionTTL = 8 * time.Hour

// Page size limits of the lists.
const (
	maxItems = 200
	maxAudit = 50
	maxRuns  = 100
)

// UI serves the finance pages. Its fields must be set before Routes.
type UI struct {
	DB         *storage.DB
	Ledger     *ledger.Ledger
	Reconciler *recon.Reconciler
	Keys       server.Keys // any active finance key signs in
	PublicURL  string      // https: the cookies are Secure
	// SessionKey signs the session cookies and form tokens. It must not be
	// in the database (a copy of the database must not sign a session),
	// and every instance serving the pages must have the same one; empty
	// means a random key of this process.
	SessionKey []byte

	// The services the open items' actions use.
	Checkout  *checkout.Service
	Lifecycle *orders.Lifecycle
	Refunds   *finance.Refunds
	Settler   recon.Settler
	// Webhooks reads the webhook endpoints' health (delivery.Service).
	Webhooks WebhookHealth
	// Providers, if not nil, reads each provider's health per method
	// (routing.Router), shown on the dashboard.
	Providers ProviderHealth
	// AnchorKey, if set, signs the journal's anchor the dashboard shows
	// (PAYGATE_ANCHOR_KEY_FILE).
	AnchorKey ed25519.PrivateKey

	sessions  *sessions
	pages     map[string]*template.Template
	css       template.CSS
	styleHash string
	origin    string
	secure    bool
}

// WebhookHealth reads every webhook endpoint with its health and its
// latest recent delivery attempts (delivery.Service.Health).
type WebhookHealth interface {
	Health(ctx context.Context, recent int) ([]delivery.Health, error)
}

// ProviderHealth reads the health of every provider and method: its
// circuit breaker's state, its calls and outages (routing.Router.Health).
type ProviderHealth interface {
	Health() []routing.Health
}

// recentDeliveries is how many attempts the webhooks page shows per
// endpoint.
const recentDeliveries = 20

// pageNames are the templates that each fill templates/layout.html.
var pageNames = []string{"login", "dashboard", "trial", "escrow", "items", "runs", "run", "webhooks", "message"}

// Routes registers the pages on r. It panics if the embedded templates do
// not parse, which the tests catch.
func (u *UI) Routes(r *mux.Router) {
	if err := u.init(); err != nil {
		panic(err) // the templates are embedded at build time
	}
	r.HandleFunc(loginPath, u.handleLoginForm).Methods(http.MethodGet)
	r.HandleFunc(loginPath, u.handleLogin).Methods(http.MethodPost)
	r.HandleFunc("/finance/logout", u.handleLogout).Methods(http.MethodPost)
	r.Handle("/finance/", u.auth(u.handleDashboard)).Methods(http.MethodGet)
	r.Handle("/finance/trial-balance", u.auth(u.handleTrial)).Methods(http.MethodGet)
	r.Handle("/finance/escrow", u.auth(u.handleEscrow)).Methods(http.MethodGet)
	r.Handle("/finance/items", u.auth(u.handleItems)).Methods(http.MethodGet)
	r.Handle("/finance/items/{id}/resolve", u.auth(u.action(u.markResolved))).Methods(http.MethodPost)
	r.Handle("/finance/items/{id}/resolve-dispute", u.auth(u.action(u.resolveDispute))).Methods(http.MethodPost)
	r.Handle("/finance/items/{id}/settle", u.auth(u.action(u.settle))).Methods(http.MethodPost)
	r.Handle("/finance/items/{id}/refund", u.auth(u.action(u.refund))).Methods(http.MethodPost)
	r.Handle("/finance/items/{id}/payout", u.auth(u.action(u.payout))).Methods(http.MethodPost)
	r.Handle("/finance/reconciliations", u.auth(u.handleRuns)).Methods(http.MethodGet)
	r.Handle("/finance/reconciliations/{id}", u.auth(u.handleRun)).Methods(http.MethodGet)
	r.Handle("/finance/webhooks", u.auth(u.handleWebhooks)).Methods(http.MethodGet)
}

func (u *UI) init() error {
	css, err := files.ReadFile("templates/ui.css")
	if err != nil {
		return fmt.Errorf("financeui: style: %w", err)
	}
	sum := sha256.Sum256(css)
	u.css, u.styleHash = template.CSS(css), "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'"
	funcs := template.FuncMap{
		"money": func(m paygate.Money) string { return m.Display() },
		// grouped writes a decimal amount of a report ("1280.46") as the
		// pages write every amount ("1,280.46").
		"grouped": paygate.GroupDigits,
		"time":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		// formKey is a fresh key for each action form, so that a double
		// submit of the form acts once (see action).
		"formKey": nonce,
	}
	u.pages = map[string]*template.Template{}
	for _, n := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+n+".html")
		if err != nil {
			return fmt.Errorf("financeui: template %s: %w", n, err)
		}
		u.pages[n] = t
	}
	// Sessions are signed with SessionKey (without one, a secret of this
	// process), mixed with the static finance key's hash, so rotating that
	// key ends every session. Neither comes from the database: a copy of
	// it cannot sign a session.
	secret := string(u.SessionKey)
	if secret == "" {
		secret = nonce() + nonce()
	}
	u.sessions = newSessions(secret+"|"+hex.EncodeToString(u.Keys.StaticHash(server.RoleFinance)), SessionTTL)
	if p, err := url.Parse(u.PublicURL); err == nil && p.Host != "" {
		u.origin = p.Scheme + "://" + p.Host
		u.secure = p.Scheme == "https"
	}
	return nil
}

// view is what every page template is given; Data is the page's own.
type view struct {
	Title    string
	CSS      template.CSS
	Nav      string // the current page, for the menu; "" when signed out
	CSRF     string // the logout or login form's token
	Error    string
	Message  string
	Data     any
	Rendered time.Time
}

// headers sets the security headers of every page.
func (u *UI) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'none'; object-src 'none'; base-uri 'none'; "+
		"frame-ancestors 'none'; form-action 'self'; img-src 'self'; style-src "+u.styleHash)
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer Chromium sends the
	// forms' Origin as "null", and the URLs carry no secret.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// render writes a page. A template error is a bug: a plain 500.
func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	v.CSS, v.Rendered = u.css, u.DB.Now()
	var b bytes.Buffer
	if err := u.pages[name].Execute(&b, v); err != nil {
		l := server.Logger(r.Context())
		l.Error().Err(err).Str("template", name).Msg("render finance page")
		u.headers(w)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "internal error\n")
		return
	}
	u.headers(w)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// failed answers an unexpected error with a 5xx page, the cause logged once.
func (u *UI) failed(w http.ResponseWriter, r *http.Request, err error) {
	status := server.ErrorStatus(err)
	if status < http.StatusInternalServerError {
		status = http.StatusInternalServerError
	}
	l := server.Logger(r.Context())
	l.Error().Err(err).Int(server.FieldStatus, status).Msg("finance page failed")
	u.render(w, r, status, "message", view{Title: "Something went wrong", Message: "We could not show this page. Please try again in a moment."})
}

func (u *UI) cookie(name, value string, maxAge int, site http.SameSite) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: cookiePath, MaxAge: maxAge, HttpOnly: true, Secure: u.secure, SameSite: site}
}

// sessionToken returns the request's valid session token and who signed
// in with it, or "". A session opened with an issued key ends when the key
// is revoked (seen within apikey.CacheTTL).
func (u *UI) sessionToken(r *http.Request) (token string, se session) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", session{}
	}
	se, ok := u.sessions.valid(c.Value, u.DB.Now())
	if !ok {
		return "", session{}
	}
	if se.keyID != "" {
		if u.Keys.Issued == nil {
			return "", session{}
		}
		active, err := u.Keys.Issued.Active(r.Context(), se.keyID)
		if err != nil || !active {
			return "", session{}
		}
	}
	if ended, err := u.sessionEnded(r.Context(), c.Value); err != nil || ended {
		return "", session{}
	}
	return c.Value, se
}

// sessionEnded reports whether a logout ended the session token.
func (u *UI) sessionEnded(ctx context.Context, token string) (bool, error) {
	h := sha256.Sum256([]byte(token))
	var n int
	err := u.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Get(ctx, &n, `SELECT COUNT(*) FROM finance_session_ends WHERE token_hash = ?`, h[:])
	})
	if err != nil {
		return false, fmt.Errorf("financeui: check the session: %w", err)
	}
	return n > 0, nil
}

// endSession records that token was logged out, until it would have
// expired anyway, and forgets the ended sessions that have expired since.
func (u *UI) endSession(ctx context.Context, token string) error {
	h := sha256.Sum256([]byte(token))
	err := u.DB.Update(ctx, func(tx *storage.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM finance_session_ends WHERE expires_at < ?`, tx.Now()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO finance_session_ends (token_hash, expires_at) VALUES (?, ?) ON CONFLICT (token_hash) DO NOTHING`,
			h[:], tx.Now().Add(SessionTTL))
		return err
	})
	if err != nil {
		return fmt.Errorf("financeui: end the session: %w", err)
	}
	return nil
}

// auditActor is who acts, as the audit log records it: the name typed at
// sign-in, and the issued key's name when one was used.
func (se session) auditActor() string {
	if se.keyID == "" {
		return se.actor
	}
	return se.actor + " (key " + se.keyName + ")"
}

// auth lets through requests with a valid session and sends the others to
// the login. The handler gets the session's CSRF token for its forms, and
// a context that names the signed-in staff member (finance.WithActor) and
// the key of the login (server.WithCaller).
func (u *UI) auth(h func(w http.ResponseWriter, r *http.Request, csrf string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, se := u.sessionToken(r)
		if token == "" {
			u.headers(w)
			http.Redirect(w, r, loginPath, http.StatusSeeOther)
			return
		}
		// The audit log names the session's staff member and the finance
		// key they signed in with, as the API names its caller's key.
		ctx := server.WithCaller(r.Context(), server.Caller{Role: server.RoleFinance, KeyID: se.keyID, KeyName: se.keyName})
		h(w, r.WithContext(finance.WithActor(ctx, se.auditActor())), u.sessions.csrf(token))
	})
}

// sameOrigin refuses a form posted from another site.
func (u *UI) sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && u.origin != "" && o != u.origin {
		return false
	}
	return true
}

func (u *UI) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if t, _ := u.sessionToken(r); t != "" {
		http.Redirect(w, r, cookiePath, http.StatusSeeOther)
		return
	}
	u.loginPage(w, r, http.StatusOK, "")
}

// loginPage shows the form with a fresh double-submit cookie.
func (u *UI) loginPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c := nonce()
	http.SetCookie(w, u.cookie(csrfCookie, c, 3600, http.SameSiteStrictMode))
	u.render(w, r, status, "login", view{Title: "Sign in", CSRF: u.sessions.csrf(c), Error: msg})
}

func (u *UI) handleLogin(w http.ResponseWriter, r *http.Request) {
	l := server.Logger(r.Context())
	c, _ := r.Cookie(csrfCookie)
	if err := r.ParseForm(); err != nil || c == nil || !u.sameOrigin(r) || !u.sessions.validCSRF(c.Value, r.PostForm.Get(fieldCSRF)) {
		l.Warn().Str(fieldReason, "csrf").Msg("finance login refused")
		u.loginPage(w, r, http.StatusForbidden, "The form expired or came from another site. Please sign in again.")
		return
	}
	caller, ok, err := u.Keys.Authenticate(r.Context(), r.PostForm.Get(fieldKey))
	if err != nil {
		u.failed(w, r, err)
		return
	}
	if !ok || caller.Role != server.RoleFinance {
		l.Warn().Str(fieldReason, "key").Msg("finance login refused")
		u.loginPage(w, r, http.StatusUnauthorized, "That is not a finance key.")
		return
	}
	// The pages' forms move money: only a full-scope key signs in.
	if !caller.Scope.Allows(server.ScopeFull) {
		l.Warn().Str(fieldReason, "scope").Msg("finance login refused")
		u.loginPage(w, r, http.StatusForbidden, "This key is limited to reading the API; the finance pages need a full finance key.")
		return
	}
	actor := strings.TrimSpace(r.PostForm.Get(fieldActor))
	if !actorPattern.MatchString(actor) {
		l.Warn().Str(fieldReason, "actor").Msg("finance login refused")
		u.loginPage(w, r, http.StatusBadRequest, "Your name or email: 1 to 100 letters, digits or . _ @ + - (no spaces).")
		return
	}
	http.SetCookie(w, u.cookie(csrfCookie, "", -1, http.SameSiteStrictMode))
	http.SetCookie(w, u.cookie(sessionCookie, u.sessions.issue(u.DB.Now(), session{actor: actor, keyID: caller.KeyID, keyName: caller.KeyName}), int(SessionTTL/time.Second), http.SameSiteStrictMode))
	u.headers(w)
	http.Redirect(w, r, cookiePath, http.StatusSeeOther)
}

func (u *UI) handleLogout(w http.ResponseWriter, r *http.Request) {
	token, _ := u.sessionToken(r)
	if token != "" {
		if err := r.ParseForm(); err != nil || !u.sameOrigin(r) || !u.sessions.validCSRF(token, r.PostForm.Get(fieldCSRF)) {
			u.render(w, r, http.StatusForbidden, "message", view{Title: "Refused",
				Message: "The form expired or came from another site."})
			return
		}
		if err := u.endSession(r.Context(), token); err != nil {
			l := server.Logger(r.Context())
			l.Error().Err(err).Msg("finance logout")
			u.render(w, r, http.StatusServiceUnavailable, "message", view{Title: "Not signed out",
				Message: "Signing out failed; please try again."})
			return
		}
	}
	http.SetCookie(w, u.cookie(sessionCookie, "", -1, http.SameSiteStrictMode))
	u.headers(w)
	http.Redirect(w, r, loginPath, http.StatusSeeOther)
}

// dashboard is the dashboard's data.
type dashboard struct {
	From, To string
	Charts   []chart
	// Providers is each provider and method's health (nil without
	// UI.Providers), and ProvidersOK says every breaker is closed.
	Providers   []routing.Health
	ProvidersOK bool
	// Anchor is the journal's latest sealed block (nil before the first).
	Anchor *chain.Anchor
}

func (u *UI) handleDashboard(w http.ResponseWriter, r *http.Request, csrf string) {
	ctx := r.Context()
	var d dashboard
	err := u.DB.View(ctx, func(tx *storage.Tx) error {
		ds := days(tx.Now())
		from, _ := time.Parse(time.DateOnly, ds[0])
		rows, err := settledSince(ctx, tx, from)
		if err != nil {
			return err
		}
		d = dashboard{From: ds[0], To: ds[len(ds)-1], Charts: charts(rows, tx.Now())}
		a, ok, err := chain.ReadAnchor(ctx, tx, u.AnchorKey)
		if ok {
			d.Anchor = &a
		}
		return err
	})
	if err != nil {
		u.failed(w, r, err)
		return
	}
	if u.Providers != nil {
		d.Providers, d.ProvidersOK = u.Providers.Health(), true
		for _, h := range d.Providers {
			if h.State != "closed" {
				d.ProvidersOK = false
			}
		}
	}
	u.render(w, r, http.StatusOK, "dashboard", view{Title: "Dashboard", Nav: "dashboard", CSRF: csrf, Data: d})
}

// trialTotal is one currency's sum of balances.
type trialTotal struct {
	Currency paygate.Currency
	Balance  paygate.Money
	Balanced bool
}

func (u *UI) handleTrial(w http.ResponseWriter, r *http.Request, csrf string) {
	var lines []ledger.TrialLine
	err := u.DB.View(r.Context(), func(tx *storage.Tx) error {
		var err error
		lines, err = u.Ledger.TrialBalance(r.Context(), tx)
		return err
	})
	if err != nil {
		u.failed(w, r, err)
		return
	}
	var totals []trialTotal
	for _, l := range lines {
		if n := len(totals); n == 0 || totals[n-1].Currency != l.Currency {
			totals = append(totals, trialTotal{Currency: l.Currency, Balance: paygate.New(0, l.Currency)})
		}
		t := &totals[len(totals)-1]
		t.Balance.Minor += l.Balance.Minor
	}
	for i := range totals {
		totals[i].Balanced = totals[i].Balance.IsZero()
	}
	u.render(w, r, http.StatusOK, "trial", view{Title: "Trial balance", Nav: "trial", CSRF: csrf,
		Data: struct {
			Lines  []ledger.TrialLine
			Totals []trialTotal
		}{lines, totals}})
}

func (u *UI) handleEscrow(w http.ResponseWriter, r *http.Request, csrf string) {
	var lines []orders.EscrowLine
	err := u.DB.View(r.Context(), func(tx *storage.Tx) error {
		var err error
		lines, err = orders.EscrowByStatus(r.Context(), tx)
		return err
	})
	if err != nil {
		u.failed(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "escrow", view{Title: "Escrow", Nav: "escrow", CSRF: csrf, Data: lines})
}

// run is one row of recon_runs.
type run struct {
	ID        string    `db:"id"`
	Provider  string    `db:"provider"`
	Lines     int64     `db:"lines"`
	Unmatched int64     `db:"unmatched"`
	Posted    int64     `db:"posted"`
	CreatedAt time.Time `db:"created_at"`
}

func (u *UI) handleRuns(w http.ResponseWriter, r *http.Request, csrf string) {
	var runs []run
	err := u.DB.View(r.Context(), func(tx *storage.Tx) error {
		return tx.Select(r.Context(), &runs, fmt.Sprintf(`SELECT id, provider, lines, unmatched, posted, created_at
			FROM recon_runs ORDER BY created_at DESC, id DESC LIMIT %d`, maxRuns))
	})
	if err != nil {
		u.failed(w, r, fmt.Errorf("financeui: list reconciliations: %w", err))
		return
	}
	u.render(w, r, http.StatusOK, "runs", view{Title: "Reconciliations", Nav: "runs", CSRF: csrf, Data: runs})
}

func (u *UI) handleRun(w http.ResponseWriter, r *http.Request, csrf string) {
	rep, err := u.Reconciler.Load(r.Context(), mux.Vars(r)["id"])
	if err != nil && paygate.ErrorCode(err) == paygate.ENOTFOUND {
		u.render(w, r, http.StatusNotFound, "message", view{Title: "Not found", Nav: "runs", CSRF: csrf,
			Message: "There is no reconciliation with this id."})
		return
	}
	if err != nil {
		u.failed(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "run", view{Title: "Reconciliation " + rep.ID, Nav: "runs", CSRF: csrf, Data: rep})
}

func (u *UI) handleWebhooks(w http.ResponseWriter, r *http.Request, csrf string) {
	var hs []delivery.Health
	if u.Webhooks != nil {
		var err error
		if hs, err = u.Webhooks.Health(r.Context(), recentDeliveries); err != nil {
			u.failed(w, r, err)
			return
		}
	}
	u.render(w, r, http.StatusOK, "webhooks", view{Title: "Webhooks", Nav: "webhooks", CSRF: csrf, Data: hs})
}
