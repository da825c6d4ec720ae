package apidoc_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/paygate/paygate/apidoc"
)

// load parses the document and resolves every $ref; an unresolvable one is
// an error.
func load(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(apidoc.Spec())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	return doc
}

// TestOpenAPIValid checks the document against OpenAPI 3.0.3 with
// kin-openapi: structure, $refs, path parameters declared for every
// template variable, unique operationIds, schemas, and the examples against
// their schemas.
func TestOpenAPIValid(t *testing.T) {
	doc := load(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableMultiError(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3:\n%v", err)
	}
}

// TestOpenAPIConventions checks what paygate asks of every operation beyond
// OpenAPI itself.
func TestOpenAPIConventions(t *testing.T) {
	doc := load(t)
	schemes := doc.Components.SecuritySchemes
	for _, name := range []string{"marketplaceKey", "financeKey"} {
		if s := schemes[name]; s == nil || s.Value.Type != "http" || s.Value.Scheme != "bearer" {
			t.Errorf("securitySchemes[%s] is not an http bearer scheme", name)
		}
	}
	for _, path := range doc.Paths.Keys() {
		item := doc.Paths.Value(path)
		prefix, isPrefix := item.Extensions["x-path-prefix"].(string)
		if _, ok := item.Extensions["x-path-prefix"]; ok && !isPrefix {
			t.Errorf("%s: x-path-prefix is not a string", path)
		}
		if isPrefix {
			rest, ok := strings.CutPrefix(path, prefix)
			if !ok || !strings.HasSuffix(prefix, "/") || !strings.HasPrefix(rest, "{") || !strings.HasSuffix(rest, "}") || strings.Count(rest, "{") != 1 {
				t.Errorf("%s: a prefix path must be its x-path-prefix %q (ending in /) and one {parameter}", path, prefix)
			}
		}
		sandboxOnly := item.Extensions["x-sandbox-only"] == true
		ops := item.Operations()
		if len(ops) == 0 {
			t.Errorf("%s: no operation", path)
		}
		for method, op := range ops {
			where := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			}
			if op.Summary == "" {
				t.Errorf("%s: no summary", where)
			}
			if op.Description == "" {
				t.Errorf("%s: no description", where)
			}
			// The document has no global security: an operation that takes
			// no key says so with security: [], so that a reader (and a
			// validating proxy) need not guess.
			if op.Security == nil {
				t.Errorf("%s: no security: list the keys it takes, or [] for none", where)
			}
			if op.Responses == nil || op.Responses.Len() == 0 {
				t.Errorf("%s: no responses", where)
			}
			if sandboxOnly != (op.Extensions["x-sandbox-only"] == true) {
				t.Errorf("%s: x-sandbox-only of the operation (%v) differs from its path's (%v)", where, op.Extensions["x-sandbox-only"], sandboxOnly)
			}
			if sandboxOnly != slices.Contains(op.Tags, "sandbox") {
				t.Errorf("%s: tagged sandbox %v, sandbox-only %v", where, slices.Contains(op.Tags, "sandbox"), sandboxOnly)
			}
			if strings.HasPrefix(path, "/v1/") && method == http.MethodPost && !hasRequiredHeader(op, "Idempotency-Key") {
				t.Errorf("%s: every POST under /v1 needs the required Idempotency-Key header parameter", where)
			}
			var roles []string
			if op.Security != nil {
				for _, req := range *op.Security {
					for name := range req {
						if schemes[name] == nil {
							t.Errorf("%s: unknown security scheme %q", where, name)
						}
						roles = append(roles, name)
					}
				}
			}
			if strings.HasPrefix(path, "/v1/") && len(roles) == 0 {
				t.Errorf("%s: every /v1 operation needs a key: list marketplaceKey and/or financeKey under security", where)
			}
			if len(roles) > 0 && op.Responses.Status(http.StatusUnauthorized) == nil {
				t.Errorf("%s: takes a key but documents no 401", where)
			}
			if len(roles) > 0 && len(roles) < len(schemes) && op.Responses.Status(http.StatusForbidden) == nil {
				t.Errorf("%s: refuses some keys but documents no 403", where)
			}
		}
	}
	for _, code := range []string{"invalid", "unauthorized", "forbidden", "not_found", "conflict", "limit", "too_large", "insufficient", "rate_limited", "unavailable", "internal", "method_not_allowed"} {
		if !slices.Contains(doc.Components.Schemas["ErrorCode"].Value.Enum, any(code)) {
			t.Errorf("schema ErrorCode lacks the code %q", code)
		}
	}
}

func hasRequiredHeader(op *openapi3.Operation, name string) bool {
	for _, p := range op.Parameters {
		if p.Value != nil && p.Value.In == openapi3.ParameterInHeader && strings.EqualFold(p.Value.Name, name) && p.Value.Required {
			return true
		}
	}
	return false
}

func TestOpenAPIHandler(t *testing.T) {
	h := apidoc.Handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != apidoc.CacheControl {
		t.Errorf("Cache-Control = %q, want %q", cc, apidoc.CacheControl)
	}
	if !bytes.Equal(rec.Body.Bytes(), apidoc.Spec()) {
		t.Errorf("GET /openapi.json served %d bytes that are not Spec()", rec.Body.Len())
	}
	etag := rec.Header().Get("ETag")
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("ETag = %q, want a strong ETag", etag)
	}

	req := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("GET with If-None-Match %s = %d with %d bytes, want 304 without a body", etag, rec.Code, rec.Body.Len())
	}

	req = httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
	req.Header.Set("If-None-Match", `"stale"`)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("GET with a stale If-None-Match = %d, want 200", rec.Code)
	}
}

func TestOpenAPISpecIsACopy(t *testing.T) {
	a := apidoc.Spec()
	a[0] = 'x'
	if b := apidoc.Spec(); b[0] == 'x' {
		t.Error("Spec() returned the embedded bytes: a caller's change showed in the next call")
	}
}
