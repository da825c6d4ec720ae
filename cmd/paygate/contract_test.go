package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/paygate/paygate/apidoc"
)

// The HTTP tests of this package talk to the service through a client whose
// transport holds every exchange to /openapi.json: contractTransport finds
// the documented operation of each request to the service (the simulators'
// prefix mounts aside, which answer in their provider's format), validates
// the request and then the response against it with kin-openapi's
// openapi3filter (parameters, bodies, statuses, content types, schemas),
// and the test that started the service fails at its end with every
// mismatch seen. A request a test sends on purpose against the document (a
// malformed body, a missing parameter) is marked with breaksContract: its
// request is not validated, but its answer still is, since an invalid
// request gets a documented error.

// contractDoc is the document and a router of its operations, loaded once.
var contractDoc = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromData(apidoc.Spec())
	if err != nil {
		return nil, fmt.Errorf("load apidoc/openapi.json: %w", err)
	}
	doc.Servers = nil // "/" on any host: match paths only
	// The checkout and finance pages are text; kin-openapi decodes text/plain
	// and text/csv itself.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	return gorillamux.NewRouter(doc)
})

// globalStatuses are the answers the document describes once for every
// operation (info.description) rather than under each: a JSON error.
var globalStatuses = map[int]bool{
	http.StatusNotFound:                    true, // a path that matches no route
	http.StatusMethodNotAllowed:            true,
	http.StatusTooManyRequests:             true,
	http.StatusRequestHeaderFieldsTooLarge: true,
}

type breaksContractKey struct{}

// breaksContract marks req as sent against the document on purpose: its
// answer is validated, the request itself is not.
func breaksContract(req *http.Request) *http.Request {
	return req.WithContext(context.WithValue(req.Context(), breaksContractKey{}, true))
}

// contractTransport validates the exchanges with the service at host
// against the document, and keeps the mismatches.
type contractTransport struct {
	host string // the service's host:port; other hosts pass unchecked
	next http.RoundTripper

	mu       sync.Mutex
	problems map[string]int // a mismatch → how many times it was seen
	checked  int
}

// newContractClient returns a client of the service at base whose every
// exchange is checked against the document; the mismatches fail tb when it
// ends.
func newContractClient(tb testing.TB, base string) (*http.Client, *contractTransport) {
	tb.Helper()
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	ct := &contractTransport{host: u.Host, next: http.DefaultTransport, problems: map[string]int{}}
	tb.Cleanup(func() { ct.report(tb) })
	return &http.Client{Transport: ct}, ct
}

// report fails tb with each mismatch.
func (ct *contractTransport) report(tb testing.TB) {
	tb.Helper()
	ct.mu.Lock()
	defer ct.mu.Unlock()
	keys := make([]string, 0, len(ct.problems))
	for k := range ct.problems {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tb.Errorf("the API and /openapi.json disagree (%d times): %s", ct.problems[k], k)
	}
}

func (ct *contractTransport) problem(format string, args ...any) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.problems[fmt.Sprintf(format, args...)]++
}

func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != ct.host {
		return ct.next.RoundTrip(req)
	}
	router, err := contractDoc()
	if err != nil {
		ct.problem("%v", err)
		return ct.next.RoundTrip(req)
	}
	route, params, err := router.FindRoute(req)
	if err != nil || route.PathItem.Extensions["x-path-prefix"] != nil {
		// Not a documented operation: a wrong path or method on purpose,
		// or a simulator's own API.
		return ct.next.RoundTrip(req)
	}
	what := req.Method + " " + route.Path

	var reqBody []byte
	if req.Body != nil {
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	}
	check := req.Clone(context.Background())
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	in := &openapi3filter.RequestValidationInput{
		Request:    check,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	if req.Context().Value(breaksContractKey{}) == nil {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			ct.problem("%s: the request %s is not what the document describes: %s", what, clipBody(reqBody), oneLine(err))
		}
	}

	resp, err := ct.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil
	}
	ct.mu.Lock()
	ct.checked++
	ct.mu.Unlock()
	ct.checkResponse(what, in, resp, body)
	return resp, nil
}

// checkResponse validates one answer.
func (ct *contractTransport) checkResponse(what string, in *openapi3filter.RequestValidationInput, resp *http.Response, body []byte) {
	if resp.Header.Get("X-Request-Id") == "" {
		ct.problem("%s: %d without X-Request-Id", what, resp.StatusCode)
	}
	if in.Route.Operation.Responses.Status(resp.StatusCode) == nil && globalStatuses[resp.StatusCode] {
		// Described once for all operations: a JSON error.
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !bytes.Contains(body, []byte(`"error":{"code":`)) {
			ct.problem("%s: %d is not a JSON error: %s", what, resp.StatusCode, clipBody(body))
		}
		return
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			ExcludeResponseBody:   in.Request.Method == http.MethodHead,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		ct.problem("%s: the answer %d %s is not what the document describes: %s", what, resp.StatusCode, clipBody(body), oneLine(err))
	}
}

// clipBody shortens a body for a message.
func clipBody(b []byte) string {
	const max = 300
	if len(b) > max {
		return fmt.Sprintf("%q…", b[:max])
	}
	return fmt.Sprintf("%q", b)
}

// oneLine flattens a validation error (several, with MultiError) to one
// line without the schema dumps that kin-openapi adds.
func oneLine(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		var parts []string
		for _, e := range me {
			parts = append(parts, oneLine(e))
		}
		return strings.Join(parts, "; ")
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: %s", strings.Join(se.JSONPointer(), "/"), se.Reason)
	}
	s := err.Error()
	if i := strings.Index(s, "\nSchema:"); i >= 0 {
		s = s[:i]
	}
	return strings.Join(strings.Fields(s), " ")
}
