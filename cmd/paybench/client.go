package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client talks to the paygate server and its simulators. It never follows
// redirects: the flow follows them itself, to time them.
type client struct {
	http       *http.Client
	base       string
	apiKey     string
	financeKey string
	retries    int
}

func newClient(c config) *client {
	tr := &http.Transport{
		Proxy:               nil, // the server is local; a proxy would measure the proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * c.concurrency,
		MaxIdleConnsPerHost: 4 * c.concurrency,
		IdleConnTimeout:     90 * time.Second,
	}
	return &client{
		http: &http.Client{
			Transport:     tr,
			Timeout:       c.timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base: c.url, apiKey: c.apiKey, financeKey: c.financeKey, retries: c.retries,
	}
}

// close drops the idle connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// request is one HTTP request of the flow.
type request struct {
	method string
	url    string // absolute, or a path on the server
	key    string // bearer key; "" for none
	idem   string // Idempotency-Key; "" for none
	json   any    // JSON body, or nil
	form   url.Values
	want   int // the expected status
	// replayable: the request may be sent again after an answer was lost
	// (a GET, or a POST with an Idempotency-Key). Others are retried only
	// when the server answered that it did not process them.
	replayable bool
}

// response is what the flow reads of an answer.
type response struct {
	status   int
	location string // Location, resolved against the request's URL; "" if none
}

// statusError is an answer other than the expected one.
type statusError struct {
	method, url string
	status      int
	body        string
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("%s %s = %d, %s", e.method, e.url, e.status, e.body)
	if e.status == http.StatusTooManyRequests {
		msg += " (a rate limit of the server: run paygate serve for a load test with PAYGATE_RATE_LIMIT_CHECKOUT=off, see docs/operations.md)"
	}
	return msg
}

// retryable reports whether an answer says the request was not processed.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// do sends r, retrying what the server did not process, and decodes a JSON
// answer of the expected status into out (if not nil). It returns the
// number of retries it made.
func (c *client) do(ctx context.Context, r request, out any) (response, int, error) {
	var body []byte
	ctype := ""
	switch {
	case r.json != nil:
		b, err := json.Marshal(r.json)
		if err != nil {
			return response{}, 0, fmt.Errorf("encode %s %s: %w", r.method, r.url, err)
		}
		body, ctype = b, "application/json"
	case r.form != nil:
		body, ctype = []byte(r.form.Encode()), "application/x-www-form-urlencoded"
	}
	target := r.url
	if strings.HasPrefix(target, "/") {
		target = c.base + target
	}
	backoff := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		resp, retry, err := c.once(ctx, r, target, ctype, body, out, attempt)
		if err == nil || !retry || attempt >= c.retries || ctx.Err() != nil {
			return resp, attempt, err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, attempt, err
		case <-t.C:
		}
		backoff *= 2
	}
}

// once makes one attempt of r; retry says whether another may follow.
func (c *client) once(ctx context.Context, r request, target, ctype string, body []byte, out any, attempt int) (response, bool, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, target, bytes.NewReader(body))
	if err != nil {
		return response{}, false, fmt.Errorf("%s %s: %w", r.method, target, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	if r.idem != "" {
		req.Header.Set("Idempotency-Key", r.idem)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// A refused connection was never processed; anything else may
		// have been.
		return response{}, r.replayable || isDialError(err), fmt.Errorf("%s %s: %w", r.method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, r.replayable, fmt.Errorf("%s %s: read the answer: %w", r.method, target, err)
	}
	got := response{status: resp.StatusCode}
	if loc, err := resp.Location(); err == nil {
		got.location = loc.String()
	}
	if resp.StatusCode != r.want {
		// A repeat of an idempotent request whose first attempt is still
		// running is a 409 until it finishes.
		again := retryable(resp.StatusCode) || (attempt > 0 && r.idem != "" && resp.StatusCode == http.StatusConflict)
		return got, again, &statusError{method: r.method, url: target, status: resp.StatusCode, body: snippet(raw)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return got, false, fmt.Errorf("%s %s: answer is not the expected JSON: %w", r.method, target, err)
		}
	}
	return got, false, nil
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// snippet shortens an answer's body for an error message.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
