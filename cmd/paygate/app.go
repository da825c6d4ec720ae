package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate/apidoc"
	"github.com/paygate/paygate/apikey"
	"github.com/paygate/paygate/chain"
	"github.com/paygate/paygate/checkout"
	outbound "github.com/paygate/paygate/delivery"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/finance"
	"github.com/paygate/paygate/financeui"
	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/janitor"
	"github.com/paygate/paygate/ledger"
	"github.com/paygate/paygate/orders"
	"github.com/paygate/paygate/providers"
	"github.com/paygate/paygate/providers/rapyd"
	"github.com/paygate/paygate/providers/rapydsim"
	"github.com/paygate/paygate/providers/simkit"
	"github.com/paygate/paygate/providers/stripe"
	"github.com/paygate/paygate/providers/stripesim"
	"github.com/paygate/paygate/recon"
	"github.com/paygate/paygate/routing"
	"github.com/paygate/paygate/sandbox"
	"github.com/paygate/paygate/server"
	"github.com/paygate/paygate/service"
	"github.com/paygate/paygate/storage"
	"github.com/paygate/paygate/webhooks"
)

// migrations are every package's schema, in dependency order.
func migrations() []storage.Migrations { return service.Migrations() }

func openDB(ctx context.Context, dsn string) (*storage.DB, error) { return service.Open(ctx, dsn) }

// Modes.
const (
	modeSandbox = "sandbox" // providers are the built-in simulators
	modeLive    = "live"    // providers are the real APIs, with credentials
)

// appConfig is what the service needs beyond its address and database.
type appConfig struct {
	mode      string
	publicURL string // "" = http:// + the bound address
	// apiKey and financeKey are the static keys in plain text, as given;
	// resolve hashes them into apiKeySHA256 and financeKeySHA256 and drops
	// the plain text. The hashes may also be given alone
	// (PAYGATE_API_KEY_SHA256, PAYGATE_FINANCE_KEY_SHA256).
	apiKey           string
	financeKey       string
	apiKeySHA256     []byte
	financeKeySHA256 []byte
	returnHosts      string // comma-separated
	checkoutSecret   string
	// sessionKey signs the finance pages' sessions (PAYGATE_SESSION_KEY);
	// resolve derives it from the plain static finance key when it is not
	// given. It is never stored in the database, so a copy of the database
	// cannot forge a session. "" after resolve: a random key of the process
	// (newApp).
	sessionKey string

	stripeSecretKey     string
	stripeWebhookSecret string
	stripeAPIURL        string
	rapydAccessKey      string
	rapydSecretKey      string
	rapydAPIURL         string

	rules orders.Rules // the marketplace's durations and commission
	// webhookLease is how long a worker holds claimed inbox events
	// (PAYGATE_WEBHOOK_LEASE; 0 = the inbox's default).
	webhookLease time.Duration
	// eventRetention is how long events are kept (PAYGATE_EVENT_RETENTION).
	eventRetention time.Duration
	// anchorKey signs the journal's anchors that the finance dashboard and
	// the reconciliation runs show (PAYGATE_ANCHOR_KEY_FILE; nil: unsigned).
	anchorKey ed25519.PrivateKey
	// chainInterval is how often the hasher seals the journal
	// (PAYGATE_CHAIN_INTERVAL; 0: chain.DefaultInterval; negative: no
	// hasher in this instance).
	chainInterval time.Duration
	// webhookAllowHosts are the hosts (comma-separated) whose webhook
	// endpoints may be internal addresses in live mode
	// (PAYGATE_WEBHOOK_ALLOW_HOSTS).
	webhookAllowHosts string
	// sendTimeout and sendLease bound one webhook POST to an endpoint and
	// how long a delivery worker holds the deliveries it claimed
	// (PAYGATE_WEBHOOK_SEND_TIMEOUT, PAYGATE_WEBHOOK_SEND_LEASE; 0 = the
	// delivery package's defaults, 15s and 1m).
	sendTimeout, sendLease time.Duration
	// maxLiveAttempts and maxAttempts cap a payment order's attempts
	// (PAYGATE_MAX_LIVE_ATTEMPTS, PAYGATE_MAX_ATTEMPTS; 0 = checkout's
	// defaults).
	maxLiveAttempts, maxAttempts int
	// routing is PAYGATE_ROUTES and the providers' breakers and timeout
	// (routesFromEnv); its zero value is each method at its catalog
	// provider with routing's defaults.
	routing routeConfig
}

// keys are the API keys of the resolved configuration (resolve has hashed
// the static keys) and the issued keys of the database.
func (c *appConfig) keys(issued *apikey.Store) server.Keys {
	return server.Keys{MarketplaceSHA256: c.apiKeySHA256, FinanceSHA256: c.financeKeySHA256, Issued: issued}
}

// app is the wired service.
type app struct {
	checkout      *checkout.Service
	router        *routing.Router // the providers' routes and health
	inbox         *webhooks.Inbox
	janitor       *janitor.Janitor
	refunds       *finance.Refunds
	lifecycle     *orders.Lifecycle
	recon         *recon.Reconciler
	sweeper       *sweeper
	stripeSim     *stripesim.Simulator // nil in live mode and with a remote simulator
	rapydSim      *rapydsim.Simulator  // nil in live mode and with a remote simulator
	now           func() time.Time     // the database clock
	sandbox       *sandbox.Sandbox     // nil in live mode
	apiKeys       *apikey.Store
	events        *events.Store // the events API
	delivery      *outbound.Service
	hasher        *chain.Hasher // seals the journal into the hash chain (nil: another instance does)
	chainInterval time.Duration
	// sessionKey signs the finance pages' sessions (appConfig.sessionKey,
	// or a random key of the process).
	sessionKey string
	// reportKeys logs a failure to record keys' last use.
	reportKeys func(error)
	closers    []func()
	workers    sync.WaitGroup
}

// start runs the background workers until ctx is done.
func (a *app) start(ctx context.Context) {
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		a.inbox.Run(ctx, time.Second)
	}()
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		a.delivery.Run(ctx, outbound.DefaultInterval)
	}()
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		a.janitor.Run(ctx, time.Minute)
	}()
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		a.apiKeys.Run(ctx, apikey.UsedEvery, a.reportKeys)
	}()
	a.workers.Add(1)
	go func() {
		defer a.workers.Done()
		a.sweeper.run(ctx, a.now, time.Minute)
	}()
	if a.hasher != nil {
		a.workers.Add(1)
		go func() {
			defer a.workers.Done()
			a.hasher.Run(ctx, a.chainInterval)
		}()
	}
}

// close waits for the workers (their context must be done) and closes the
// simulators.
func (a *app) close() {
	a.workers.Wait()
	for _, c := range a.closers {
		c()
	}
}

// randomHex returns n random bytes in hex, for generated sandbox secrets.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// The sandbox's static API keys, published in the README: live mode
// refuses them, as keys and as hashes.
const (
	sandboxMarketplaceKey = "sandbox-marketplace-key"
	sandboxFinanceKey     = "sandbox-finance-key"
)

// resolve fills the defaults of the mode, checks what live mode needs, and
// replaces the static API keys by their hashes. It may be called again. An
// empty mode is sandbox, unless a provider's credentials are set: then the
// mode must be chosen (a real key must not start the sandbox, with its
// published keys, by mistake).
func (c *appConfig) resolve() error {
	if c.mode == "" {
		if name := c.providerSecretSet(); name != "" {
			return fmt.Errorf("%s is set but PAYGATE_MODE is not: set PAYGATE_MODE=live to use the real providers, or PAYGATE_MODE=sandbox to run the built-in simulators with these keys", name)
		}
		c.mode = modeSandbox
	}
	if c.sessionKey != "" && len(c.sessionKey) < minSessionKey {
		return fmt.Errorf("PAYGATE_SESSION_KEY is shorter than %d characters: use 32 random bytes in hex (openssl rand -hex 32)", minSessionKey)
	}
	// The finance sessions' key comes from the finance key the operator
	// gave, never from the sandbox's public default.
	if c.sessionKey == "" && c.financeKey != "" {
		c.sessionKey = sessionKeyOf(c.financeKey)
	}
	switch c.mode {
	case modeSandbox:
		// A simulator in another process was given the provider's secrets:
		// generated ones would not match them.
		if c.stripeAPIURL != "" && (c.stripeSecretKey == "" || c.stripeWebhookSecret == "") {
			return fmt.Errorf("STRIPE_API_URL points the sandbox at the Stripe simulator of paygate sandbox serve: give STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET as it was given them")
		}
		if c.rapydAPIURL != "" && (c.rapydAccessKey == "" || c.rapydSecretKey == "") {
			return fmt.Errorf("RAPYD_API_URL points the sandbox at the Rapyd simulator of paygate sandbox serve: give RAPYD_ACCESS_KEY and RAPYD_SECRET_KEY as it was given them")
		}
		if c.apiKey == "" && c.apiKeySHA256 == nil {
			c.apiKey = sandboxMarketplaceKey
		}
		if c.financeKey == "" && c.financeKeySHA256 == nil {
			c.financeKey = sandboxFinanceKey
		}
		if c.returnHosts == "" {
			c.returnHosts = "localhost,127.0.0.1"
		}
		if c.stripeSecretKey == "" {
			c.stripeSecretKey = "sk_test_sandbox_" + randomHex(12)
		}
		if c.stripeWebhookSecret == "" {
			c.stripeWebhookSecret = "whsec_" + randomHex(24)
		}
		if c.rapydAccessKey == "" {
			c.rapydAccessKey = "rak_sandbox_" + randomHex(12)
		}
		if c.rapydSecretKey == "" {
			c.rapydSecretKey = "rsk_sandbox_" + randomHex(24)
		}
	case modeLive:
		if c.apiKey == "" && c.apiKeySHA256 == nil || c.financeKey == "" && c.financeKeySHA256 == nil {
			return fmt.Errorf("live mode needs PAYGATE_API_KEY and PAYGATE_FINANCE_KEY (or their _FILE or _SHA256)")
		}
		if (c.stripeSecretKey == "") != (c.stripeWebhookSecret == "") {
			return fmt.Errorf("live mode needs both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or neither")
		}
		if (c.rapydAccessKey == "") != (c.rapydSecretKey == "") {
			return fmt.Errorf("live mode needs both RAPYD_ACCESS_KEY and RAPYD_SECRET_KEY, or neither")
		}
		if err := c.checkLive(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown mode %q: sandbox or live", c.mode)
	}
	if c.apiKey != "" {
		c.apiKeySHA256, c.apiKey = server.HashKey(c.apiKey), ""
	}
	if c.financeKey != "" {
		c.financeKeySHA256, c.financeKey = server.HashKey(c.financeKey), ""
	}
	if c.apiKeySHA256 != nil && bytes.Equal(c.apiKeySHA256, c.financeKeySHA256) {
		return fmt.Errorf("PAYGATE_API_KEY and PAYGATE_FINANCE_KEY must differ")
	}
	return nil
}

// minSessionKey is the shortest PAYGATE_SESSION_KEY accepted.
const minSessionKey = 32

// sessionKeyOf derives the finance sessions' key from the static finance
// key: every instance given the same finance key signs the same sessions,
// and rotating the key ends them. Only the operator's configuration holds
// the finance key; the database holds neither it nor its hash.
func sessionKeyOf(financeKey string) string {
	m := hmac.New(sha256.New, []byte(financeKey))
	m.Write([]byte("paygate finance session key v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newApp wires the service's packages onto srv's router, with issued the
// store of issued API keys (the one srv's rate limiter consults). publicURL is where
// buyers and providers reach the service. It makes the simulators (in
// sandbox mode) and the provider clients, then wires checkout, events and
// finance in that order (wireCheckout, wireEvents, wireFinance).
func newApp(ctx context.Context, c appConfig, db *storage.DB, srv *server.Server, issued *apikey.Store, publicURL string, log zerolog.Logger) (*app, error) {
	if err := c.resolve(); err != nil {
		return nil, err
	}
	for _, name := range c.plainHTTPURLs() {
		log.Warn().Str("setting", name).Msg("provider API over plain http on a loopback address: live mode allows it for a local proxy or mock only")
	}
	a := &app{apiKeys: issued}
	a.reportKeys = func(err error) { log.Warn().Err(err).Msg("record API keys' last use") }
	keys := c.keys(issued)
	provs := map[string]providers.Provider{}
	sims := map[string]sandbox.Simulator{}

	if c.mode == modeSandbox {
		// A simulator whose URL is configured runs in another process
		// (paygate sandbox serve); the others run here.
		stripeURL, rapydURL := c.providerURLs(publicURL)
		if c.stripeAPIURL != "" {
			sims[providers.Stripe] = &sandbox.Remote{URL: c.stripeAPIURL, Secret: c.stripeSecretKey}
		} else {
			ss := newStripeSim(c, stripeURL, publicURL, log)
			sims[providers.Stripe], a.stripeSim = stripeSim{ss}, ss
			a.closers = append(a.closers, ss.Close)
		}
		if c.rapydAPIURL != "" {
			sims[providers.Rapyd] = &sandbox.Remote{URL: c.rapydAPIURL, Secret: c.rapydSecretKey}
		} else {
			rs := newRapydSim(c, rapydURL, publicURL, log)
			sims[providers.Rapyd], a.rapydSim = rapydSim{rs}, rs
			a.closers = append(a.closers, rs.Close)
		}
	}
	clients, err := providerClients(c, publicURL, log)
	if err != nil {
		return nil, err
	}
	for name, p := range clients {
		provs[name] = p
	}

	w := &wiring{c: c, db: db, srv: srv, keys: keys, provs: provs, sims: sims, publicURL: publicURL, log: log}
	if err := a.wireCheckout(ctx, w); err != nil {
		return nil, err
	}
	if err := a.wireEvents(w); err != nil {
		return nil, err
	}
	if err := a.wireFinance(w); err != nil {
		return nil, err
	}
	return a, nil
}

// wiring holds what newApp's steps hand on to each other. Each step wires
// its packages onto srv's router in turn: the order of the routes and
// middleware is the order of the steps.
type wiring struct {
	c         appConfig
	db        *storage.DB
	srv       *server.Server
	keys      server.Keys
	provs     map[string]providers.Provider
	sims      map[string]sandbox.Simulator
	publicURL string
	log       zerolog.Logger

	// Set by wireCheckout.
	ledger  *ledger.Ledger
	idem    func(http.Handler) http.Handler
	refunds *finance.Refunds
}

// wireCheckout registers the database's and the ledger's metrics, and wires
// the provider router, the payment orders (API and pages), the sales
// orders' lifecycle and its sweeper, and the finance API with its refunds.
func (a *app) wireCheckout(ctx context.Context, w *wiring) error {
	c, db, srv, log := w.c, w.db, w.srv, w.log
	if err := db.RegisterMetrics(srv.Metrics()); err != nil {
		return fmt.Errorf("register database metrics: %w", err)
	}
	l := ledger.New(db)
	if err := l.RegisterMetrics(srv.Metrics()); err != nil {
		return fmt.Errorf("register ledger metrics: %w", err)
	}
	var err error
	if a.router, err = c.newRouter(srv.Metrics()); err != nil {
		return err
	}
	co, err := checkout.New(ctx, checkout.Config{
		DB: db, Ledger: l, Providers: w.provs, PublicURL: w.publicURL,
		ReturnHosts: splitList(c.returnHosts), Secret: c.checkoutSecret, Sandbox: c.mode == modeSandbox,
		MaxLiveAttempts: c.maxLiveAttempts, MaxAttempts: c.maxAttempts, Logger: log,
		Router: a.router, CreateTimeout: c.routing.createTimeout,
	})
	if err != nil {
		return err
	}
	a.checkout = co
	r := srv.Router()
	r.Handle("/openapi.json", apidoc.Handler()).Methods(http.MethodGet)
	r.Use(finance.ActorMiddleware)
	idemStore := idempotency.New(db)
	idemStore.OneTransaction = oneTransactionRoute(postCommits())
	idem := idemStore.Middleware
	co.Routes(r, checkout.Middleware{Keys: w.keys, Idempotency: idem})
	a.lifecycle = &orders.Lifecycle{DB: db, Ledger: l, Rules: c.rules, Logger: log.With().Str("component", "orders").Logger()}
	(&orders.API{Lifecycle: a.lifecycle, Keys: w.keys, Idempotency: idem}).Routes(r)
	a.sweeper = &sweeper{checkout: co, lifecycle: a.lifecycle, log: log.With().Str("component", "sweeper").Logger()}
	if a.sweeper.applied, err = newTimersApplied(srv.Metrics()); err != nil {
		return fmt.Errorf("register timer metrics: %w", err)
	}
	if err := srv.Metrics().Register(a.lifecycle.TimerCollector()); err != nil {
		return fmt.Errorf("register timer metrics: %w", err)
	}
	a.now = db.Now
	co.PageRoutes(r)
	refunds := &finance.Refunds{
		DB: db, Ledger: l, Providers: w.provs, Payments: co.PaidAttempts, Logger: log.With().Str("component", "refunds").Logger(),
	}
	(&finance.API{DB: db, Ledger: l, Keys: w.keys, Idempotency: idem, Refunds: refunds}).Routes(r)
	w.ledger, w.idem, w.refunds = l, idem, refunds
	return nil
}

// wireEvents wires the events store and API, the journal's hasher, the
// outbound webhook deliveries and the inbox of the providers' webhooks,
// and registers their metrics.
func (a *app) wireEvents(w *wiring) error {
	c, db, srv, log, r := w.c, w.db, w.srv, w.log, w.srv.Router()
	a.events = &events.Store{DB: db, Retention: c.eventRetention, Chain: chain.EventPruning{}}
	if err := a.events.RegisterMetrics(srv.Metrics()); err != nil {
		return fmt.Errorf("register events metrics: %w", err)
	}
	if c.chainInterval >= 0 {
		a.hasher = &chain.Hasher{DB: db, Logger: log.With().Str("component", "chain").Logger()}
		a.chainInterval = cmp.Or(c.chainInterval, chain.DefaultInterval)
	}
	if err := chain.RegisterMetrics(srv.Metrics(), db); err != nil {
		return fmt.Errorf("register chain metrics: %w", err)
	}
	(&events.API{Store: a.events, Keys: w.keys}).Routes(r)
	a.delivery = outbound.New(outbound.Config{DB: db, Events: a.events, Live: c.mode == modeLive,
		AllowHosts: splitList(c.webhookAllowHosts), Timeout: c.sendTimeout, Lease: c.sendLease, Logger: log.With().Str("component", "delivery").Logger()})
	(&outbound.API{Service: a.delivery, Keys: w.keys, Idempotency: w.idem}).Routes(r)
	if err := a.delivery.RegisterMetrics(srv.Metrics()); err != nil {
		return fmt.Errorf("register webhook delivery metrics: %w", err)
	}
	a.inbox = webhooks.New(webhooks.Config{DB: db, Providers: w.provs, Applier: a.checkout, PublicURL: w.publicURL, Logger: log, Lease: c.webhookLease})
	a.inbox.Routes(r)
	a.inbox.APIRoutes(r, w.keys)
	if err := a.inbox.RegisterMetrics(srv.Metrics()); err != nil {
		return fmt.Errorf("register webhook metrics: %w", err)
	}
	return nil
}

// wireFinance wires the janitor, reconciliation and its API, the finance
// pages with their session key and, in sandbox mode, the sandbox's routes.
func (a *app) wireFinance(w *wiring) error {
	c, db, l, co, log, r := w.c, w.db, w.ledger, a.checkout, w.log, w.srv.Router()
	jm, err := janitor.NewMetrics(w.srv.Metrics())
	if err != nil {
		return fmt.Errorf("register janitor metrics: %w", err)
	}
	a.refunds = w.refunds
	a.janitor = &janitor.Janitor{Checkout: co, Inbox: a.inbox, Refunds: w.refunds, Events: a.events, Logger: log.With().Str("component", "janitor").Logger(), Metrics: jm}
	a.recon = &recon.Reconciler{DB: db, Ledger: l, Checkout: co, Providers: w.provs, Logger: log.With().Str("component", "recon").Logger(),
		AnchorKey: c.anchorKey}
	(&recon.API{Reconciler: a.recon, Settler: a.janitor, Keys: w.keys, Idempotency: w.idem}).Routes(r)
	a.sessionKey = c.sessionKey
	if a.sessionKey == "" {
		// Only the finance key's hash was given, and no PAYGATE_SESSION_KEY:
		// sessions are signed with a key of this process.
		a.sessionKey = randomHex(32)
		if c.mode == modeLive {
			log.Warn().Msg("finance sessions are signed with a key of this process: they end when it stops and other instances refuse them; set PAYGATE_SESSION_KEY")
		}
	}
	(&financeui.UI{DB: db, Ledger: l, Reconciler: a.recon, Keys: w.keys, PublicURL: w.publicURL, SessionKey: []byte(a.sessionKey),
		Checkout: co, Lifecycle: a.lifecycle, Refunds: w.refunds, Settler: a.janitor, Webhooks: a.delivery, Providers: a.router, AnchorKey: c.anchorKey}).Routes(r)
	if c.mode == modeSandbox {
		a.sandbox = sandbox.New(co, w.sims, w.keys)
		a.sandbox.Routes(r)
	}
	return nil
}

// newStripeSim returns the Stripe simulator at baseURL (its API's and
// pages' URL), which sends its webhooks to the gateway at gatewayURL, with
// c's Stripe secrets.
func newStripeSim(c appConfig, baseURL, gatewayURL string, log zerolog.Logger) *stripesim.Simulator {
	return stripesim.New(stripesim.Config{
		BaseURL: baseURL, APIKey: c.stripeSecretKey, WebhookURL: gatewayURL + "/webhooks/stripe",
		WebhookSecret: c.stripeWebhookSecret, Logger: log.With().Str("component", "stripesim").Logger(),
	})
}

// newRapydSim returns the Rapyd simulator at baseURL, which sends its
// webhooks to the gateway at gatewayURL, with c's Rapyd keys.
func newRapydSim(c appConfig, baseURL, gatewayURL string, log zerolog.Logger) *rapydsim.Simulator {
	return rapydsim.New(rapydsim.Config{
		BaseURL: baseURL, AccessKey: c.rapydAccessKey, SecretKey: c.rapydSecretKey,
		WebhookURL: gatewayURL + "/webhooks/rapyd", Logger: log.With().Str("component", "rapydsim").Logger(),
	})
}

// stripeSim and rapydSim adapt the simulators' own fault types to the
// sandbox's, which have the same shape.
type stripeSim struct{ *stripesim.Simulator }

func (s stripeSim) SetFaults(f sandbox.Faults) error { return s.Simulator.SetFaults(simFaults(f)) }

type rapydSim struct{ *rapydsim.Simulator }

func (s rapydSim) SetFaults(f sandbox.Faults) error { return s.Simulator.SetFaults(simFaults(f)) }

// simFaults is the simulators' Faults (stripesim.Faults and
// rapydsim.Faults are both simkit.Faults) of the sandbox API's.
func simFaults(f sandbox.Faults) simkit.Faults {
	return simkit.Faults{
		Duplicate: f.Duplicate, Reorder: f.Reorder, Delay: f.Delay, Drop: f.Drop, DropRate: f.DropRate,
		API: simkit.APIFault(f.API), APIDelay: time.Duration(f.APIDelay),
	}
}

// providerURLs returns the base URLs of the providers' APIs: in sandbox
// mode the simulators served at publicURL, or in another process (paygate
// sandbox serve) at the configured URL; in live mode the configured ones
// ("" = the provider's own).
func (c *appConfig) providerURLs(publicURL string) (stripeURL, rapydURL string) {
	if c.mode == modeSandbox {
		stripeURL, rapydURL = publicURL+"/sandbox/stripe", publicURL+"/sandbox/rapyd"
		if c.stripeAPIURL != "" {
			stripeURL = c.stripeAPIURL
		}
		if c.rapydAPIURL != "" {
			rapydURL = c.rapydAPIURL
		}
		return stripeURL, rapydURL
	}
	return c.stripeAPIURL, c.rapydAPIURL
}

// providerClients makes the clients of the providers that have credentials
// (resolved c), at their providerURLs; serve and the commands that run
// beside it (sweep, recon) share it.
func providerClients(c appConfig, publicURL string, log zerolog.Logger) (map[string]providers.Provider, error) {
	stripeURL, rapydURL := c.providerURLs(publicURL)
	provs := map[string]providers.Provider{}
	if c.stripeSecretKey != "" {
		sc, err := stripe.New(stripe.Config{
			SecretKey: c.stripeSecretKey, BaseURL: stripeURL, WebhookSecret: c.stripeWebhookSecret,
			Logger: log.With().Str(checkout.FieldProvider, providers.Stripe).Logger(),
		})
		if err != nil {
			return nil, err
		}
		provs[providers.Stripe] = sc
	}
	if c.rapydAccessKey != "" {
		rc, err := rapyd.New(rapyd.Config{
			AccessKey: c.rapydAccessKey, SecretKey: c.rapydSecretKey, BaseURL: rapydURL,
			WebhookURL: publicURL + "/webhooks/rapyd",
			Logger:     log.With().Str(checkout.FieldProvider, providers.Rapyd).Logger(),
		})
		if err != nil {
			return nil, err
		}
		provs[providers.Rapyd] = rc
	}
	return provs, nil
}
