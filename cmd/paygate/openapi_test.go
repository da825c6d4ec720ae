package main

import (
	"context"
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gorilla/mux"
	"github.com/rs/zerolog"

	"github.com/paygate/paygate/apidoc"
	"github.com/paygate/paygate/apikey"
	"github.com/paygate/paygate/server"
)

// The tests here hold apidoc/openapi.json to the router that newApp wires:
// every route is documented, every documented operation is routed, the
// documented keys are the ones the routes take, and the statuses and
// content types the routes answer with are documented. A route added
// without its documentation fails TestOpenAPIRoutes.
//
// Route templates are compared in OpenAPI's form: a gorilla/mux variable
// with a pattern, {action:approve|decline}, is the path parameter {action},
// whose schema must list the alternatives as its enum (or, for any other
// pattern, carry it as its pattern). A PathPrefix route (the simulators'
// mounts, /sandbox/stripe/) is documented by a path item whose x-path-prefix
// is the prefix, such as /sandbox/stripe/{path}; it takes any method, so
// the documented methods of such a path are all routed, and at least one
// must be documented.

// anyMethod is the method of a route that does not restrict methods.
const anyMethod = "*"

// routeKey names an operation: a method (or anyMethod) and an OpenAPI path,
// or a prefix followed by "*" for a prefix route.
type routeKey struct{ method, path string }

func (k routeKey) String() string { return k.method + " " + k.path }

// routedVar is a path variable of a route with a pattern.
type routedVar struct {
	name    string
	pattern string
}

// routedOp is what the router says about one route key.
type routedOp struct {
	template string // the route's own template, for messages
	vars     []routedVar
}

// newRoutedApp wires the service in mode onto a new server, as serve does,
// on a fresh SQLite database, without starting its workers. Live mode gets
// credentials of both providers, whose APIs it never calls here.
func newRoutedApp(t *testing.T, mode string) *server.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	db, err := openDB(ctx, filepath.Join(t.TempDir(), "paygate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	srv := server.New(server.Config{Logger: log, Health: db.Ping})
	c := appConfig{mode: mode, apiKey: testAPIKey, financeKey: testFinanceKey, returnHosts: "shop.example"}
	if mode == modeLive {
		c.apiKey, c.financeKey = liveAPIKey, liveFinanceKey
		c.stripeSecretKey, c.stripeWebhookSecret, c.stripeAPIURL = "sk_test_openapi", "whsec_openapi_0123456789", "http://127.0.0.1:1"
		c.rapydAccessKey, c.rapydSecretKey, c.rapydAPIURL = "rak_openapi", "rsk_openapi_0123456789", "http://127.0.0.1:1"
	}
	a, err := newApp(ctx, c, db, srv, apikey.New(db), "http://paygate.test", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return srv
}

// walkRoutes collects every route of r in OpenAPI's form.
func walkRoutes(t *testing.T, r *mux.Router) map[routeKey]routedOp {
	t.Helper()
	out := map[routeKey]routedOp{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if route.GetHandler() == nil {
			return nil // a subrouter's own route; Walk visits its routes next
		}
		tpl, err := route.GetPathTemplate()
		if err != nil {
			t.Errorf("route %q has no path template (%v): every route needs a path to be documented", route.GetName(), err)
			return nil
		}
		re, err := route.GetPathRegexp()
		if err != nil {
			t.Errorf("route %s: %v", tpl, err)
			return nil
		}
		path, vars, err := openAPIPath(tpl)
		if err != nil {
			t.Errorf("route %s: %v", tpl, err)
			return nil
		}
		if !strings.HasSuffix(re, "$") { // PathPrefix
			if len(vars) > 0 {
				t.Errorf("route %s: a prefix route with variables cannot be documented as a prefix", tpl)
			}
			path += "*"
		}
		methods, err := route.GetMethods()
		if err != nil {
			methods = []string{anyMethod}
		}
		for _, m := range methods {
			k := routeKey{m, path}
			if prev, ok := out[k]; ok {
				t.Errorf("routes %s and %s are both %s", prev.template, tpl, k)
			}
			out[k] = routedOp{template: tpl, vars: vars}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openAPIPath turns a gorilla/mux path template into OpenAPI's: {name} and
// {name:pattern} both become {name}, and the variables with a pattern are
// returned. Patterns may hold braces of their own ({n:[0-9]{8}}).
func openAPIPath(tpl string) (string, []routedVar, error) {
	var b strings.Builder
	var vars []routedVar
	for i := 0; i < len(tpl); i++ {
		if tpl[i] == '}' {
			return "", nil, errUnbalanced
		}
		if tpl[i] != '{' {
			b.WriteByte(tpl[i])
			continue
		}
		level, end := 0, -1
		for j := i; j < len(tpl) && end < 0; j++ {
			switch tpl[j] {
			case '{':
				level++
			case '}':
				if level--; level == 0 {
					end = j
				}
			}
		}
		if end < 0 {
			return "", nil, errUnbalanced
		}
		name, pattern, _ := strings.Cut(tpl[i+1:end], ":")
		b.WriteString("{" + name + "}")
		if pattern != "" {
			vars = append(vars, routedVar{name: name, pattern: pattern})
		}
		i = end
	}
	return b.String(), vars, nil
}

var errUnbalanced = errors.New("unbalanced braces in the path template")

// documentedOp is one operation of the document.
type documentedOp struct {
	path   string // as the document writes it
	item   *openapi3.PathItem
	op     *openapi3.Operation
	prefix bool
}

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(apidoc.Spec())
	if err != nil {
		t.Fatalf("load apidoc/openapi.json: %v", err)
	}
	return doc
}

// documentedOps lists the document's operations by route key; with
// sandbox false, it leaves out the x-sandbox-only ones.
func documentedOps(doc *openapi3.T, sandbox bool) map[routeKey]documentedOp {
	out := map[routeKey]documentedOp{}
	for _, path := range doc.Paths.Keys() {
		item := doc.Paths.Value(path)
		if !sandbox && item.Extensions["x-sandbox-only"] == true {
			continue
		}
		key := path
		prefix, isPrefix := item.Extensions["x-path-prefix"].(string)
		if isPrefix {
			key = prefix + "*"
		}
		for method, op := range item.Operations() {
			if !sandbox && op.Extensions["x-sandbox-only"] == true {
				continue
			}
			out[routeKey{method, key}] = documentedOp{path: path, item: item, op: op, prefix: isPrefix}
		}
	}
	return out
}

// pathParam returns the path parameter name of an operation, declared on
// the operation or its path item.
func pathParam(d documentedOp, name string) *openapi3.Parameter {
	if p := d.op.Parameters.GetByInAndName(openapi3.ParameterInPath, name); p != nil {
		return p
	}
	return d.item.Parameters.GetByInAndName(openapi3.ParameterInPath, name)
}

// alternativesRE matches a pattern that is a plain list of alternatives.
var alternativesRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(\|[A-Za-z0-9_.-]+)*$`)

// checkVar checks that the document's parameter says what the route's
// pattern says.
func checkVar(t *testing.T, k routeKey, d documentedOp, v routedVar) {
	t.Helper()
	p := pathParam(d, v.name)
	if p == nil || p.Schema == nil || p.Schema.Value == nil {
		t.Errorf("%s: the route's {%s:%s} has no documented path parameter %q with a schema", k, v.name, v.pattern, v.name)
		return
	}
	s := p.Schema.Value
	if alternativesRE.MatchString(v.pattern) {
		want := strings.Split(v.pattern, "|")
		var got []string
		for _, e := range s.Enum {
			str, _ := e.(string)
			got = append(got, str)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: path parameter %q has enum %q; the route takes %q", k, v.name, got, want)
		}
		return
	}
	if s.Pattern != "^"+v.pattern+"$" && s.Pattern != "^(?:"+v.pattern+")$" {
		t.Errorf("%s: path parameter %q has pattern %q; the route takes ^%s$", k, v.name, s.Pattern, v.pattern)
	}
}

// compareRoutes checks the router's routes and the document's operations
// both ways.
func compareRoutes(t *testing.T, routes map[routeKey]routedOp, docOps map[routeKey]documentedOp) {
	t.Helper()
	var missing, extra []string
	for k, r := range routes {
		if k.method == anyMethod {
			var found bool
			for dk, d := range docOps {
				if dk.path == k.path {
					found = true
					if !d.prefix && strings.HasSuffix(k.path, "*") {
						t.Errorf("%s: documented, but not as a prefix (x-path-prefix)", dk)
					}
				}
			}
			if !found {
				missing = append(missing, "any method "+r.template+" (route without Methods: document at least one method)")
			}
			continue
		}
		d, ok := docOps[k]
		if !ok {
			missing = append(missing, k.method+" "+r.template)
			continue
		}
		for _, v := range r.vars {
			checkVar(t, k, d, v)
		}
	}
	for k, d := range docOps {
		if _, ok := routes[k]; ok {
			continue
		}
		if _, ok := routes[routeKey{anyMethod, k.path}]; ok {
			continue
		}
		extra = append(extra, k.method+" "+d.path)
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, m := range missing {
		t.Errorf("route %s is not documented: add it to apidoc/openapi.json", m)
	}
	for _, e := range extra {
		t.Errorf("apidoc/openapi.json documents %s, which no route serves", e)
	}
}

// TestOpenAPIRoutes compares the router of the sandbox-mode service, which
// has every route, with the document.
func TestOpenAPIRoutes(t *testing.T) {
	srv := newRoutedApp(t, modeSandbox)
	routes := walkRoutes(t, srv.Router())
	if len(routes) < 10 {
		t.Fatalf("walked only %d routes: %v", len(routes), routes)
	}
	compareRoutes(t, routes, documentedOps(loadDoc(t), true))
}

// TestOpenAPIRoutesLiveMode checks that live mode serves exactly the
// operations not marked x-sandbox-only.
func TestOpenAPIRoutesLiveMode(t *testing.T) {
	srv := newRoutedApp(t, modeLive)
	compareRoutes(t, walkRoutes(t, srv.Router()), documentedOps(loadDoc(t), false))
}

func TestOpenAPIRoutesTemplates(t *testing.T) {
	for _, tt := range []struct {
		tpl, want string
		vars      []routedVar
	}{
		{"/v1/payment-orders/{number}", "/v1/payment-orders/{number}", nil},
		{"/sandbox/payment-orders/{number}/{action:approve|decline}", "/sandbox/payment-orders/{number}/{action}",
			[]routedVar{{"action", "approve|decline"}}},
		{"/x/{n:P[0-9]{8}}/y", "/x/{n}/y", []routedVar{{"n", "P[0-9]{8}"}}},
		{"/sandbox/stripe/", "/sandbox/stripe/", nil},
	} {
		got, vars, err := openAPIPath(tt.tpl)
		if err != nil || got != tt.want || !slices.Equal(vars, tt.vars) {
			t.Errorf("openAPIPath(%q) = %q, %v, %v; want %q, %v", tt.tpl, got, vars, err, tt.want, tt.vars)
		}
	}
	for _, tpl := range []string{"/x/{n", "/x/n}", "/x/{n:[0-9]{8}"} {
		if _, _, err := openAPIPath(tpl); err == nil {
			t.Errorf("openAPIPath(%q) = nil error, want one", tpl)
		}
	}
}

// sampleValue is a value a parameter accepts: its example, the first of its
// enum, or "x".
func sampleValue(p *openapi3.Parameter) string {
	if p.Example != nil {
		return toString(p.Example)
	}
	if s := p.Schema; s != nil && s.Value != nil {
		switch {
		case s.Value.Example != nil:
			return toString(s.Value.Example)
		case len(s.Value.Enum) > 0:
			return toString(s.Value.Enum[0])
		case s.Value.Type.Is("integer"):
			return "1"
		}
	}
	return "x"
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return "x"
}

// sampleURL fills the operation's path parameters and required query
// parameters with sample values.
func sampleURL(d documentedOp) string {
	params := append(slices.Clone(d.item.Parameters), d.op.Parameters...)
	path := d.path
	q := url.Values{}
	for _, ref := range params {
		p := ref.Value
		switch {
		case p.In == openapi3.ParameterInPath:
			path = strings.ReplaceAll(path, "{"+p.Name+"}", url.PathEscape(sampleValue(p)))
		case p.In == openapi3.ParameterInQuery && p.Required:
			q.Set(p.Name, sampleValue(p))
		}
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return path
}

// refusedRole reports whether a response is server.Keys.Require refusing
// the key's role, rather than a handler's 403 (the wrong user, say).
func refusedRole(status int, body []byte) bool {
	return status == http.StatusForbidden && strings.Contains(string(body), "may not call this endpoint")
}

// roles lists the security schemes an operation takes.
func roles(op *openapi3.Operation) []string {
	var out []string
	if op.Security != nil {
		for _, req := range *op.Security {
			for name := range req {
				out = append(out, name)
			}
		}
	}
	return out
}

// TestOpenAPIRoutesAuth calls every documented operation of the real
// service, on a throwaway database, with sample parameters and no body:
// without a key (401 for an operation that takes one), with each key it does
// not take (403), and with each key it takes (neither 401 nor the key
// check's 403; POSTs carry no Idempotency-Key, so no POST of the API gets
// past its middleware). Operations that take no key are called without one,
// which must not be 401. Every status seen must be documented for its
// operation, with the content type seen. The simulators' mounts, which
// answer in their provider's format, are left out.
func TestOpenAPIRoutesAuth(t *testing.T) {
	srv := newRoutedApp(t, modeSandbox)
	h := srv.Handler()
	keys := map[string]string{"marketplaceKey": testAPIKey, "financeKey": testFinanceKey}
	doc := loadDoc(t)
	if len(doc.Components.SecuritySchemes) != len(keys) {
		t.Fatalf("the document has security schemes %v; this test knows %v", doc.Components.SecuritySchemes, keys)
	}
	for k, d := range documentedOps(doc, true) {
		if d.prefix {
			continue
		}
		target := sampleURL(d)
		call := func(key string) (int, string, []byte) {
			req := httptest.NewRequest(k.method, target, nil)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body, _ := io.ReadAll(rec.Body)
			return rec.Code, rec.Header().Get("Content-Type"), body
		}
		check := func(who string, status int, ctype string, body []byte) {
			t.Helper()
			resp := d.op.Responses.Status(status)
			if resp == nil || resp.Value == nil {
				t.Errorf("%s %s %s: %d is not documented (body %.200s)", k.method, target, who, status, body)
				return
			}
			if len(resp.Value.Content) == 0 || len(body) == 0 {
				return
			}
			mt, _, _ := mime.ParseMediaType(ctype)
			if resp.Value.Content.Get(mt) == nil {
				t.Errorf("%s %s %s: %d with Content-Type %q, documented as %v", k.method, target, who, status, ctype, slices.Sorted(maps.Keys(resp.Value.Content)))
			}
		}
		allowed := roles(d.op)
		if len(allowed) == 0 {
			status, ctype, body := call("")
			if status == http.StatusUnauthorized {
				t.Errorf("%s %s without a key = 401, but the document says it takes none", k.method, target)
			}
			check("without a key", status, ctype, body)
			continue
		}
		status, ctype, body := call("")
		if status != http.StatusUnauthorized {
			t.Errorf("%s %s without a key = %d, want 401: the document says it takes %v", k.method, target, status, allowed)
		}
		check("without a key", status, ctype, body)
		for scheme, key := range keys {
			status, ctype, body := call(key)
			switch {
			case !slices.Contains(allowed, scheme) && status != http.StatusForbidden:
				t.Errorf("%s %s with the %s = %d, want 403: the document says it takes only %v", k.method, target, scheme, status, allowed)
			case slices.Contains(allowed, scheme) && (status == http.StatusUnauthorized || refusedRole(status, body)):
				t.Errorf("%s %s with the %s = %d %s: the document says it takes that key", k.method, target, scheme, status, body)
			}
			check("with the "+scheme, status, ctype, body)
		}
	}
}

// TestOpenAPIServed fetches the document from the running service, without
// a key.
func TestOpenAPIServed(t *testing.T) {
	srv := newRoutedApp(t, modeSandbox)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d %s, want 200", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /openapi.json: Content-Type %q, want application/json", ct)
	}
	if resp.Header.Get("ETag") == "" || resp.Header.Get("Cache-Control") == "" {
		t.Errorf("GET /openapi.json: ETag %q, Cache-Control %q, want both", resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"))
	}
	if string(body) != string(apidoc.Spec()) {
		t.Errorf("GET /openapi.json served %d bytes that are not apidoc.Spec()", len(body))
	}
	if _, err := openapi3.NewLoader().LoadFromData(body); err != nil {
		t.Errorf("GET /openapi.json: %v", err)
	}
}
