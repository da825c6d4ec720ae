// Package delivery pushes the events of package events to the endpoints
// that the marketplace and finance register, as Standard Webhooks
// (https://www.standardwebhooks.com): signed POSTs, retried with backoff for
// about three days, in sequence order per resource. It owns the
// webhook_endpoints, webhook_deliveries and webhook_attempts tables.
//
// Writers of events pay nothing for delivery: a dispatcher walks the events
// in commit order after each endpoint's position and makes a delivery row
// for each endpoint whose patterns (and role) match; delivery workers claim
// due rows under a lease (FOR UPDATE SKIP LOCKED on PostgreSQL), so every
// serve instance shares the work and a killed one only delays it.
package delivery

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/events"
	"github.com/paygate/paygate/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the package's schema, for storage.Open. It comes after
// the events' schema.
func Migrations() storage.Migrations {
	return storage.Migrations{Component: "delivery", FS: migrationFiles, Dir: "migrations"}
}

// Delivery statuses.
const (
	StatusPending   = "pending"   // to send, or to retry at next_attempt_at
	StatusDelivered = "delivered" // a 2xx answered
	StatusFailed    = "failed"    // given up after the last retry
)

// Attempt results, the label of the deliveries metric.
const (
	ResultSuccess = "success" // 2xx
	ResultFailure = "failure" // an answer other than 2xx (3xx included: redirects are not followed)
	ResultGone    = "gone"    // 410: the endpoint is disabled
	ResultError   = "error"   // no answer: refused connection, timeout, TLS
	ResultRefused = "refused" // the address is one live mode may not reach
)

// Defaults.
const (
	DefaultTimeout  = 15 * time.Second
	DefaultLease    = time.Minute
	DefaultInterval = 500 * time.Millisecond
	// RotationOverlap is how long a rotated-out secret keeps signing beside
	// the new one.
	RotationOverlap = 24 * time.Hour
	// MaxEndpoints caps the endpoints of one role.
	MaxEndpoints = 50
	// responseKeep is how much of an answer an attempt records.
	responseKeep = 1024
)

// DefaultSchedule is the wait after each failed attempt: the first retry
// 5 s after the first attempt, … the last about 3 days after it (13
// attempts in all); then the delivery is given up.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour,
	10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// Config configures the Service.
type Config struct {
	DB     *storage.DB
	Events *events.Store
	// Live refuses http URLs and loopback, private, link-local and
	// metadata addresses (at registration and at each connection), except
	// for the hosts of AllowHosts. The sandbox allows them.
	Live       bool
	AllowHosts []string
	// Now is the clock of signatures and rotation overlaps; DB.Now if nil.
	Now func() time.Time
	// Resolver looks up a host's addresses, at registration and at
	// delivery; net.DefaultResolver if nil.
	Resolver Resolver
	// Timeout bounds one attempt (DefaultTimeout if zero): a 2xx later is
	// a failure.
	Timeout time.Duration
	// Schedule is the wait after each failed attempt; DefaultSchedule if
	// nil. Its length + 1 is the number of attempts before giving up.
	Schedule []time.Duration
	// Lease is how long a worker holds the deliveries it claimed
	// (DefaultLease if zero); it must exceed Timeout.
	Lease time.Duration
	// Instance names this process in its leases (host:pid if empty).
	Instance string
	// Workers is the number of delivery loops (4 if zero), Batch the
	// deliveries each claims at once (50 if zero), sent concurrently.
	Workers, Batch int
	Logger         zerolog.Logger
}

// Resolver looks up the addresses of a host.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Service manages endpoints and delivers events to them.
type Service struct {
	cfg     Config
	policy  policy
	client  *httpClient
	metrics *metrics
	wakec   chan struct{}
}

// New returns the Service of cfg.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = cfg.DB.Now
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Schedule == nil {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Lease < cfg.Timeout+5*time.Second {
		cfg.Lease = cfg.Timeout + 5*time.Second
	}
	if cfg.Instance == "" {
		host, _ := os.Hostname()
		cfg.Instance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	s := &Service{cfg: cfg, metrics: newMetrics(), wakec: make(chan struct{}, 1)}
	s.policy = policy{live: cfg.Live, allow: normalizeHosts(cfg.AllowHosts), resolver: cfg.Resolver}
	s.client = newHTTPClient(s.policy, cfg.Workers*cfg.Batch)
	return s
}

// Endpoint is a registered webhook endpoint, as the API shows it.
type Endpoint struct {
	ID          string   `json:"id" db:"id"`
	URL         string   `json:"url" db:"url"`
	Events      []string `json:"events" db:"-"`
	Description string   `json:"description" db:"description"`
	Disabled    bool     `json:"disabled" db:"disabled"`
	// DisabledReason says why delivery disabled it (a 410), or "".
	DisabledReason string    `json:"disabled_reason,omitempty" db:"disabled_reason"`
	CreatedAt      time.Time `json:"created_at" db:"created_at"`
	UpdatedAt      time.Time `json:"updated_at" db:"updated_at"`
	// PreviousSecretExpiresAt is when the secret a rotation replaced stops
	// signing; nil without an overlap.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty" db:"-"`
	// Secret is set only in the answers of create and rotate-secret.
	Secret string `json:"secret,omitempty" db:"-"`

	Role     string           `json:"-" db:"role"`
	RawTypes string           `json:"-" db:"events"`
	Position int64            `json:"-" db:"last_position"`
	Until    sql.NullTime     `json:"-" db:"previous_secret_until"`
	Patterns []events.Pattern `json:"-" db:"-"`
}

// endpointCols are the columns an Endpoint scans.
const endpointCols = `id, role, url, events, description, disabled, disabled_reason, created_at, updated_at, last_position, previous_secret_until`

// finish decodes the stored columns into the API fields.
func (e *Endpoint) finish(now time.Time) error {
	if err := json.Unmarshal([]byte(e.RawTypes), &e.Events); err != nil {
		return fmt.Errorf("delivery: events of endpoint %s: %w", e.ID, err)
	}
	e.Patterns = make([]events.Pattern, len(e.Events))
	for i, p := range e.Events {
		e.Patterns[i] = events.Pattern(p)
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	if e.Until.Valid && e.Until.Time.After(now) {
		t := e.Until.Time.UTC()
		e.PreviousSecretExpiresAt = &t
	}
	return nil
}

// Matches reports whether the endpoint receives events of type t: a pattern
// matches, and its role may read them.
func (e *Endpoint) Matches(t events.Type) bool {
	if !t.Visible(e.Role) {
		return false
	}
	for _, p := range e.Patterns {
		if p.Match(t) {
			return true
		}
	}
	return false
}

// NewEndpoint is what registering an endpoint takes.
type NewEndpoint struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

// EndpointPatch changes an endpoint; nil fields stay.
type EndpointPatch struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Disabled    *bool     `json:"disabled"`
}

// maxDescription bounds an endpoint's description.
const maxDescription = 500

// checkPatterns parses the patterns of role: each a known type or resource,
// and none that only names events the role may not read.
func checkPatterns(role string, ps []string) (string, error) {
	pats, err := events.ParsePatterns(ps)
	if err != nil {
		return "", err
	}
	if len(ps) > 50 {
		return "", paygate.Errorf(paygate.EINVALID, "events lists at most 50 patterns")
	}
	for _, p := range pats {
		visible := false
		for _, t := range events.Types {
			if p.Match(t) && t.Visible(role) {
				visible = true
			}
		}
		if !visible {
			return "", paygate.Errorf(paygate.EINVALID, "the %s key may not receive %s events", role, p)
		}
	}
	raw, err := json.Marshal(ps)
	if err != nil {
		return "", fmt.Errorf("delivery: encode patterns: %w", err)
	}
	return string(raw), nil
}

// Create registers an endpoint of role and returns it with its secret,
// shown only here. It receives the events written from now on.
func (s *Service) Create(ctx context.Context, role string, in NewEndpoint) (Endpoint, error) {
	u, err := s.policy.checkURL(ctx, in.URL)
	if err != nil {
		return Endpoint{}, err
	}
	types, err := checkPatterns(role, in.Events)
	if err != nil {
		return Endpoint{}, err
	}
	if len(in.Description) > maxDescription {
		return Endpoint{}, paygate.Errorf(paygate.EINVALID, "description is at most %d characters", maxDescription)
	}
	// Events already committed are not this endpoint's: it starts after
	// the last positioned one.
	if _, err := s.cfg.Events.Sequence(ctx); err != nil {
		return Endpoint{}, err
	}
	last, err := s.cfg.Events.Last(ctx)
	if err != nil {
		return Endpoint{}, err
	}
	id, err := randomID("we_", 12)
	if err != nil {
		return Endpoint{}, err
	}
	secret, err := newSecret()
	if err != nil {
		return Endpoint{}, err
	}
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		var n int
		if err := tx.Get(ctx, &n, `SELECT COUNT(*) FROM webhook_endpoints WHERE role = ?`, role); err != nil {
			return err
		}
		if n >= MaxEndpoints {
			return paygate.Errorf(paygate.ELIMIT, "the %s key has %d webhook endpoints, the most it may have: delete one first", role, n)
		}
		_, err := tx.Exec(ctx, `INSERT INTO webhook_endpoints (id, role, url, events, description, secret, last_position, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, role, u, types, in.Description, secret, last, tx.Now(), tx.Now())
		return err
	})
	if err != nil {
		return Endpoint{}, wrap("create endpoint", err)
	}
	e, err := s.Get(ctx, role, id)
	if err != nil {
		return Endpoint{}, err
	}
	e.Secret = secret
	s.wake()
	return e, nil
}

// List returns the endpoints of role, oldest first.
func (s *Service) List(ctx context.Context, role string) ([]Endpoint, error) {
	var es []Endpoint
	err := s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		return tx.Select(ctx, &es, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE role = ? ORDER BY created_at, id`, role)
	})
	if err != nil {
		return nil, wrap("list endpoints", err)
	}
	now := s.cfg.Now()
	for i := range es {
		if err := es[i].finish(now); err != nil {
			return nil, err
		}
	}
	return es, nil
}

// Get returns the endpoint id of role, or ENOTFOUND (also for another
// role's).
func (s *Service) Get(ctx context.Context, role, id string) (Endpoint, error) {
	var e Endpoint
	err := s.cfg.DB.View(ctx, func(tx *storage.Tx) error {
		var err error
		e, err = getEndpoint(ctx, tx, role, id, "")
		return err
	})
	if err != nil {
		return Endpoint{}, err
	}
	return e, e.finish(s.cfg.Now())
}

func getEndpoint(ctx context.Context, tx *storage.Tx, role, id, lock string) (Endpoint, error) {
	var e Endpoint
	err := tx.Get(ctx, &e, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = ? AND role = ?`+lock, id, role)
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, paygate.Errorf(paygate.ENOTFOUND, "no webhook endpoint %s", paygate.Clip(id, 40))
	}
	if err != nil {
		return Endpoint{}, wrap("get endpoint", err)
	}
	return e, nil
}

// Update changes an endpoint of role. Enabling a disabled one resumes its
// deliveries where they stopped.
func (s *Service) Update(ctx context.Context, role, id string, p EndpointPatch) (Endpoint, error) {
	var u, types string
	var err error
	if p.URL != nil {
		if u, err = s.policy.checkURL(ctx, *p.URL); err != nil {
			return Endpoint{}, err
		}
	}
	if p.Events != nil {
		if types, err = checkPatterns(role, *p.Events); err != nil {
			return Endpoint{}, err
		}
	}
	if p.Description != nil && len(*p.Description) > maxDescription {
		return Endpoint{}, paygate.Errorf(paygate.EINVALID, "description is at most %d characters", maxDescription)
	}
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		e, err := getEndpoint(ctx, tx, role, id, tx.ForUpdate())
		if err != nil {
			return err
		}
		if p.URL != nil {
			e.URL = u
		}
		if p.Events != nil {
			e.RawTypes = types
		}
		if p.Description != nil {
			e.Description = *p.Description
		}
		if p.Disabled != nil {
			if e.Disabled && !*p.Disabled {
				e.DisabledReason = ""
			}
			e.Disabled = *p.Disabled
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_endpoints SET url = ?, events = ?, description = ?, disabled = ?, disabled_reason = ?, updated_at = ?
			WHERE id = ?`, e.URL, e.RawTypes, e.Description, e.Disabled, e.DisabledReason, tx.Now(), id)
		return err
	})
	if err != nil {
		return Endpoint{}, wrap("update endpoint", err)
	}
	s.wake()
	return s.Get(ctx, role, id)
}

// Delete removes an endpoint of role with its deliveries and attempts.
func (s *Service) Delete(ctx context.Context, role, id string) error {
	err := s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = ? AND role = ?`, id, role)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, paygate.Errorf(paygate.ENOTFOUND, "no webhook endpoint %s", paygate.Clip(id, 40)))
		}
		return nil
	})
	return wrap("delete endpoint", err)
}

// RotateSecret gives an endpoint of role a new secret, returned only here;
// the one it replaces keeps signing beside it for RotationOverlap.
func (s *Service) RotateSecret(ctx context.Context, role, id string) (Endpoint, error) {
	secret, err := newSecret()
	if err != nil {
		return Endpoint{}, err
	}
	err = s.cfg.DB.Update(ctx, func(tx *storage.Tx) error {
		if _, err := getEndpoint(ctx, tx, role, id, tx.ForUpdate()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = ?, secret = ?, updated_at = ?
			WHERE id = ?`, s.cfg.Now().UTC().Add(RotationOverlap), secret, tx.Now(), id)
		return err
	})
	if err != nil {
		return Endpoint{}, wrap("rotate secret", err)
	}
	e, err := s.Get(ctx, role, id)
	e.Secret = secret
	return e, err
}

// wrap adds context to a storage error; a *paygate.Error passes as is.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *paygate.Error
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("delivery: %s: %w", op, err)
}

// randomID returns prefix and n random bytes in hex.
func randomID(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("delivery: random id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// ValidEndpointID reports whether s has the form of an endpoint id.
func ValidEndpointID(s string) bool {
	if len(s) != 27 || s[:3] != "we_" {
		return false
	}
	_, err := hex.DecodeString(s[3:])
	return err == nil
}

// newSecret returns a Standard Webhooks secret: whsec_ and the base64 of 32
// random bytes.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("delivery: secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

// wake asks the workers to look for work now.
func (s *Service) wake() {
	select {
	case s.wakec <- struct{}{}:
	default:
	}
}
