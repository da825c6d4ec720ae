package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	outbound "github.com/paygate/paygate/delivery"
)

const tailUsage = `Usage:
  paygate events tail [--type T[,T…]] [--resource R] [--after CURSOR] [--url SERVER]
                      [--forward-to URL [--secret whsec_…]]

Follows GET /v1/events of a running server (--url, env PAYGATE_URL) and
prints each event as one JSON line, from the events written after it starts
(or after --after CURSOR; --after 0 is from the oldest kept). With
--forward-to it also POSTs each event to that URL signed as paygate's
webhook deliveries are (Standard Webhooks), so that a receiver can be tried
on a developer's machine. The key is PAYGATE_API_KEY (or PAYGATE_FINANCE_KEY),
or the file named by its _FILE. Stop it with Ctrl-C.
`

// tail runs "paygate events tail".
func tail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlags("events tail", stderr)
	fs.Usage = func() { io.WriteString(stderr, tailUsage+"\nFlags:\n"); fs.PrintDefaults() }
	server := fs.String("url", envOr(getenv, "PAYGATE_URL", "http://127.0.0.1:8080"), "the paygate server (env PAYGATE_URL)")
	types := fs.String("type", "", "only events of these types, comma-separated (such as sales_order.paid,balance.credited)")
	resource := fs.String("resource", "", "only events of this resource (a P- or K-number, a user id)")
	after := fs.String("after", "", "start after this cursor (a next of GET /v1/events; 0: every kept event) instead of at the end")
	forward := fs.String("forward-to", "", "also POST each event, signed, to this URL (such as http://127.0.0.1:3000/webhooks)")
	secretFlag := fs.String("secret", "", "the whsec_… secret that signs forwarded events (a new one, printed at start, if empty); a test secret for a local receiver, not an endpoint's")
	interval := fs.Duration("interval", time.Second, "how often to poll for new events")
	if err := parse(fs, args); err != nil {
		return exitError
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "paygate events tail: "+format+"\n", a...)
		return exitError
	}
	key, err := secret(getenv, "PAYGATE_API_KEY")
	if err == nil && key == "" {
		key, err = secret(getenv, "PAYGATE_FINANCE_KEY")
	}
	switch {
	case err != nil:
		return fail("%v", err)
	case key == "":
		return fail("set PAYGATE_API_KEY (or PAYGATE_FINANCE_KEY, or either's _FILE) to the key that reads the events")
	case *interval < 10*time.Millisecond:
		return fail("--interval is at least 10ms")
	}
	base, err := url.Parse(strings.TrimRight(*server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fail("--url %q is not an http(s) URL such as http://127.0.0.1:8080", *server)
	}
	t := &tailer{base: base.String(), key: key, stdout: stdout, stderr: stderr, client: &http.Client{Timeout: 30 * time.Second}}
	t.query = url.Values{}
	if *types != "" {
		t.query.Set("type", *types)
	}
	if *resource != "" {
		t.query.Set("resource", *resource)
	}
	if *forward != "" {
		if err := t.forwardTo(*forward, *secretFlag); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(stderr, "paygate events tail: forwarding to %s, signed with %s\n", t.forward, t.secret)
	} else if *secretFlag != "" {
		return fail("--secret needs --forward-to")
	}

	cursor := *after
	if cursor == "" {
		// Start at the end: page through what is already there, printing
		// nothing.
		if cursor, err = t.end(ctx); err != nil {
			if ctx.Err() != nil {
				return exitOK
			}
			return fail("%v", err)
		}
	} else if n, err := strconv.ParseInt(cursor, 10, 64); err != nil || n < 0 {
		return fail("--after %q is not a cursor (the next of a page of GET /v1/events)", cursor)
	}
	fmt.Fprintf(stderr, "paygate events tail: following %s/v1/events after %s (Ctrl-C stops)\n", t.base, cursor)
	if err := t.follow(ctx, cursor, *interval); err != nil {
		return fail("%v", err)
	}
	return exitOK
}

// forwardTo makes t also POST each event to URL forward, signed with secret
// (a new one if empty).
func (t *tailer) forwardTo(forward, secret string) error {
	u, err := url.Parse(forward)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--forward-to %q is not an http(s) URL", forward)
	}
	t.forward = u.String()
	t.secret = secret
	if t.secret == "" {
		if t.secret, err = newForwardSecret(); err != nil {
			return err
		}
	}
	if err := checkForwardSecret(t.secret); err != nil {
		return err
	}
	// A plain http client: a forward follows no redirect, as a delivery does not.
	t.fwd = &http.Client{Timeout: outbound.DefaultTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return nil
}

// newForwardSecret returns a new Standard Webhooks secret.
func newForwardSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

// checkForwardSecret refuses a secret that is not whsec_ and the base64 of
// 24 to 64 bytes, the Standard Webhooks secret sizes.
func checkForwardSecret(s string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if !strings.HasPrefix(s, "whsec_") || err != nil || len(key) < 24 || len(key) > 64 {
		return errors.New("--secret is not a Standard Webhooks secret: whsec_ and the base64 of 24 to 64 bytes")
	}
	return nil
}

// tailer follows the events API.
type tailer struct {
	base, key      string
	query          url.Values
	client         *http.Client
	stdout, stderr io.Writer
	// forward, secret and fwd are set with --forward-to.
	forward, secret string
	fwd             *http.Client
}

// eventPage is a page of GET /v1/events; each event is kept as the server
// wrote it.
type eventPage struct {
	Events  []json.RawMessage `json:"events"`
	Next    string            `json:"next"`
	HasMore bool              `json:"has_more"`
}

// errFatal marks an answer that polling again will not change (a refused
// key, a bad filter).
var errFatal = errors.New("fatal")

// page reads the page after cursor.
func (t *tailer) page(ctx context.Context, cursor string) (eventPage, error) {
	q := url.Values{}
	for k, v := range t.query {
		q[k] = v
	}
	q.Set("after", cursor)
	q.Set("limit", "100")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/v1/events?"+q.Encode(), nil)
	if err != nil {
		return eventPage{}, fmt.Errorf("%w: %v", errFatal, err)
	}
	req.Header.Set("Authorization", "Bearer "+t.key)
	resp, err := t.client.Do(req)
	if err != nil {
		return eventPage{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return eventPage{}, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		json.Unmarshal(raw, &e)
		err := fmt.Errorf("GET /v1/events: %s: %s", resp.Status, e.Error.Message)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
			err = fmt.Errorf("%w: %w", errFatal, err)
		}
		return eventPage{}, err
	}
	var p eventPage
	if err := json.Unmarshal(raw, &p); err != nil {
		return eventPage{}, fmt.Errorf("GET /v1/events: %w", err)
	}
	if _, err := strconv.ParseInt(p.Next, 10, 64); err != nil {
		return eventPage{}, fmt.Errorf("GET /v1/events: next %q is not a cursor", p.Next)
	}
	return p, nil
}

// end returns the cursor after the last event there is now.
func (t *tailer) end(ctx context.Context) (string, error) {
	cursor := "0"
	for {
		p, err := t.page(ctx, cursor)
		if err != nil {
			return "", err
		}
		cursor = p.Next
		if !p.HasMore {
			return cursor, nil
		}
	}
}

// follow prints (and forwards) every event after cursor until ctx is done.
// An unreachable server or a 5xx is reported and polled again; an answer
// that will not change (401, 403, 400) ends it.
func (t *tailer) follow(ctx context.Context, cursor string, interval time.Duration) error {
	failing := false
	for {
		p, err := t.page(ctx, cursor)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errFatal):
			return err
		case err != nil:
			if !failing {
				fmt.Fprintf(t.stderr, "paygate events tail: %v (retrying)\n", err)
			}
			failing = true
		default:
			if failing {
				fmt.Fprintln(t.stderr, "paygate events tail: reading events again")
			}
			failing = false
			for _, ev := range p.Events {
				t.emit(ctx, ev)
			}
			cursor = p.Next
			if p.HasMore {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// emit prints one event as a JSON line and forwards it.
func (t *tailer) emit(ctx context.Context, raw json.RawMessage) {
	var line bytes.Buffer
	if err := json.Compact(&line, raw); err != nil {
		fmt.Fprintf(t.stderr, "paygate events tail: an event is not JSON: %v\n", err)
		return
	}
	body := bytes.Clone(line.Bytes())
	line.WriteByte('\n')
	t.stdout.Write(line.Bytes())
	if t.forward == "" {
		return
	}
	var ev struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	json.Unmarshal(body, &ev)
	status, err := t.post(ctx, ev.ID, body)
	switch {
	case err != nil:
		fmt.Fprintf(t.stderr, "paygate events tail: forward %s %s: %v\n", ev.ID, ev.Type, err)
	default:
		fmt.Fprintf(t.stderr, "paygate events tail: forward %s %s: %d\n", ev.ID, ev.Type, status)
	}
}

// post sends one event to the forward URL with the headers of a delivery:
// webhook-id (the event id), webhook-timestamp and webhook-signature.
func (t *tailer) post(ctx context.Context, id string, body []byte) (int, error) {
	now := time.Now()
	sig, err := outbound.Signature(id, now, body, t.secret, "", nil)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.forward, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "paygate-events-tail/1")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := t.fwd.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
