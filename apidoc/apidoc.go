// Package apidoc serves the OpenAPI 3 description of paygate's HTTP API.
//
// The document, openapi.json, is written by hand and embedded in the binary.
// It describes every route that cmd/paygate wires onto the router; the test
// of cmd/paygate walks the router and fails when a route is missing from the
// document or the document names a route that does not exist, so whoever
// adds a route documents it here.
package apidoc

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

//go:embed openapi.json
var spec []byte

// CacheControl is the Cache-Control of the document: it changes only with a
// new build, and clients revalidate it with its ETag after five minutes.
const CacheControl = "public, max-age=300"

// Spec returns the OpenAPI 3.0.3 document as JSON. Each call returns a new
// copy, which the caller may modify.
func Spec() []byte { return bytes.Clone(spec) }

// Handler returns a handler that serves the document with Content-Type
// application/json, a strong ETag of its content and CacheControl; it
// answers a matching If-None-Match with 304 Not Modified, and HEAD without
// a body. It serves whatever method it is routed for, so route it for GET
// (and HEAD). It needs no authentication, and is safe for concurrent use.
func Handler() http.Handler {
	sum := sha256.Sum256(spec)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", CacheControl)
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(spec))
	})
}
