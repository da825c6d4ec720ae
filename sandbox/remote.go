package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/server"
)

// The simulators can run in a process of their own (paygate sandbox
// serve), so that a load test measures the gateway without the simulated
// providers. That process serves each simulator at /sandbox/{provider}/,
// as the gateway does, and beside it the simulator's test helpers, the
// Simulator methods over HTTP:
//
//	POST /sandbox/{provider}/test_helpers/payments/{ref}/{approve|decline|expire|redeliver}
//	PUT  /sandbox/{provider}/test_helpers/faults       (a Faults body)
//
// authenticated as Stripe authenticates its own test helpers: with
// "Authorization: Bearer <secret>", the provider secret both processes are
// given. The gateway reaches them through a Remote, whose URL is the
// simulator's base URL, the same URL its provider client calls.

// Hosted is one simulator served by Host, with the secret its test
// helpers require.
type Hosted struct {
	Simulator Simulator
	// Secret is the bearer token of the test helpers; an empty Secret
	// refuses every helper request.
	Secret string
}

// Host returns the handler of the simulators in a process of their own:
// each at /sandbox/{provider}/, its test helpers beside it (see above), and
// GET /healthz, which answers 200 once the process serves.
func Host(simulators map[string]Hosted) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		server.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	for name, h := range simulators {
		prefix := "/sandbox/" + name
		mux.Handle(prefix+"/", http.StripPrefix(prefix, h.Simulator.Handler()))
		mux.Handle("POST "+prefix+"/test_helpers/payments/{ref}/{action}", h.authorize(http.HandlerFunc(h.handleAction)))
		mux.Handle("PUT "+prefix+"/test_helpers/faults", h.authorize(http.HandlerFunc(h.handleFaults)))
	}
	return mux
}

// authorize refuses a request without the helper secret as its bearer
// token, in paygate's error shape.
func (h Hosted) authorize(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(h.Secret))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(token))
		if !ok || h.Secret == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			server.WriteError(w, r, paygate.Errorf(paygate.EUNAUTHORIZED, "sandbox: the test helpers need the provider secret as a bearer token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h Hosted) handleAction(w http.ResponseWriter, r *http.Request) {
	ref, action := r.PathValue("ref"), r.PathValue("action")
	var err error
	switch action {
	case "approve":
		err = h.Simulator.Approve(r.Context(), ref)
	case "decline":
		err = h.Simulator.Decline(r.Context(), ref)
	case "expire":
		err = h.Simulator.Expire(r.Context(), ref)
	case "redeliver":
		err = h.Simulator.Redeliver(r.Context(), ref)
	default:
		err = paygate.Errorf(paygate.ENOTFOUND, "unknown sandbox action %q", paygate.Clip(action, 32))
	}
	if err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, map[string]string{"provider_ref": ref, "action": action})
}

func (h Hosted) handleFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	if err := server.DecodeJSON(r, &f); err != nil {
		server.WriteError(w, r, err)
		return
	}
	if err := h.Simulator.SetFaults(f); err != nil {
		server.WriteError(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, f)
}

// Remote is a Simulator in another process, reached over HTTP through the
// test helpers that Host serves. It has no Handler: its API and pages are
// at URL, not mounted in the gateway. Its methods are safe for concurrent
// use.
type Remote struct {
	// URL is the simulator's base URL, such as
	// "http://127.0.0.1:8081/sandbox/stripe": the provider client's API
	// URL.
	URL string
	// Secret is the bearer token of its test helpers (Hosted.Secret).
	Secret string
	// Client sends the requests; nil is a client with a 30 s timeout
	// (an approval waits for the webhooks it sends).
	Client *http.Client
}

// remoteTimeout bounds a helper request of a Remote without a Client.
const remoteTimeout = 30 * time.Second

// Handler returns nil: a remote simulator is not mounted.
func (r *Remote) Handler() http.Handler { return nil }

// Approve approves the payment ref at the remote simulator, which sends
// its webhooks before it answers. The remote's errors keep their codes (an
// unknown ref is ENOTFOUND); a failure to reach it is EUNAVAILABLE.
func (r *Remote) Approve(ctx context.Context, ref string) error { return r.act(ctx, ref, "approve") }

// Decline declines the payment ref at the remote simulator, as Approve.
func (r *Remote) Decline(ctx context.Context, ref string) error { return r.act(ctx, ref, "decline") }

// Expire expires the payment ref at the remote simulator, as Approve.
func (r *Remote) Expire(ctx context.Context, ref string) error { return r.act(ctx, ref, "expire") }

// Redeliver resends every webhook of the payment ref, as Approve.
func (r *Remote) Redeliver(ctx context.Context, ref string) error {
	return r.act(ctx, ref, "redeliver")
}

// SetFaults sets the remote simulator's faults.
func (r *Remote) SetFaults(f Faults) error {
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("sandbox: faults: %w", err)
	}
	return r.call(context.Background(), http.MethodPut, "/test_helpers/faults", body)
}

func (r *Remote) act(ctx context.Context, ref, action string) error {
	return r.call(ctx, http.MethodPost, "/test_helpers/payments/"+url.PathEscape(ref)+"/"+action, nil)
}

// call sends one helper request and turns an error answer back into the
// *paygate.Error the remote simulator returned.
func (r *Remote) call(ctx context.Context, method, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(r.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sandbox: remote simulator: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.Secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := r.Client
	if client == nil {
		client = &http.Client{Timeout: remoteTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: "the remote simulator at " + r.URL + " did not answer", Err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
		return &paygate.Error{Code: paygate.EUNAVAILABLE, Message: fmt.Sprintf("the remote simulator at %s answered %d", r.URL, resp.StatusCode)}
	}
	return &paygate.Error{Code: e.Error.Code, Message: e.Error.Message}
}
